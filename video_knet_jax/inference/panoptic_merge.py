"""Joint thing/stuff panoptic merge of one frame (original section 5, step 4).

The original (`merge_stuff_thing_stuff_joint`) builds 100 thing candidates from
a top-k over (proposal, thing class) pairs and one stuff candidate per stuff
kernel, assigns every pixel to `argmax_k score_k * prob_k(x)` once, and then
walks the candidates by descending score, keeping candidate k when

  (stuff or score_k >= instance_score_thr) and area_k > 0 and orig_k > 0
  and area_k / orig_k >= overlap_thr,

with `area_k = #(argmax == k)` and `orig_k = #(prob_k >= mask_thr)`. Pixels of
rejected candidates stay void. Because the argmax is computed once and never
updated, every decision depends on candidate k alone: the walk is exactly the
vectorised rule above, and the walk order only numbers the segments. We keep
that order: segment s is the s-th candidate by descending score, so the kept
things appear in the order the tracker of the original received them.
`tests/inference/test_panoptic_merge.py` checks equality with a sequential
transliteration of the walk.

Duplicates (reference 10.3 item 22): the top-k over pairs can select one
proposal twice with different thing classes. Both candidates share the mask,
so the lower-scored one can never win a pixel with prob > 0 and is never kept
by the rule above; we additionally mark it as a duplicate explicitly
(`segment_kept` False) so that ties in the score cannot keep one kernel twice.

Static shapes everywhere: S = k + num_stuff segments, maps at the padded input
size; the real image size is a traced value (one compilation for all KITTI
frame sizes) and pixels outside it are void.

`MergeSettings.merge` also offers the original's two sequential merges
(`merge_stuff_thing_thing_first` / `_stuff_first`, `kernel_iter_head.py`):
masks binarised at prob > mask_thr; things in descending score order, skipped
below instance_score_thr, if empty, or if more than iou_thr of the mask is
already taken, and otherwise paint their untaken pixels; stuff in descending
score order paints its untaken pixels if at least stuff_max_area of them are
left. 'thing_first' walks the things, then the stuff; 'stuff_first' the other
way round. Each step depends on the map so far, so it is a `lax.scan` over the
S candidates; segment s is the s-th candidate of the walk.
"""
import dataclasses
from typing import Sequence, Tuple

import flax.struct
import jax
import jax.numpy as jnp

from video_knet_jax.datasets import facts as dataset_facts
from video_knet_jax.inference import dense_ops

VOID_TRAIN_ID = 255   # KITTI-STEP's void (not the original's road = 0); see void_label.
VOID_SEGMENT = -1     # segment map value of void pixels.


@dataclasses.dataclass(frozen=True)
class MergeSettings:
  """Static numbers of the merge (hashable, so usable as a jit static arg)."""
  num_thing_classes: int
  max_per_img: int              # thing candidates (top-k over proposal x class).
  instance_score_thr: float
  overlap_thr: float
  mask_thr: float               # `orig` area threshold on the probabilities.
  mask_upsample_stride: int     # stride-8 logits -> stride-2 before the sigmoid.
  train_ids: Tuple[int, ...]    # model class index -> dataset trainId.
  void_label: int = VOID_TRAIN_ID  # semantic map value of void pixels.
  merge: str = "joint"          # 'joint', 'thing_first' or 'stuff_first'.
  iou_thr: float = 0.5          # sequential merges: max taken fraction of a thing.
  stuff_max_area: int = 4096    # sequential merges: min untaken pixels of a stuff.


MERGES = ("joint", "thing_first", "stuff_first")


def class_to_train_id(num_classes: int,
                      thing_train_ids: Sequence[int]) -> Tuple[int, ...]:
  """Model class order: things (in `thing_train_ids` order), then stuff ids ascending."""
  things = tuple(int(t) for t in thing_train_ids)
  if len(set(things)) != len(things) or any(not 0 <= t < num_classes for t in things):
    raise ValueError(
        f"config.data.thing_train_ids={things} must be distinct ids in [0, {num_classes}).")
  stuff = tuple(c for c in range(num_classes) if c not in things)
  return things + stuff


def merge_settings_from_config(config) -> MergeSettings:
  """Reads `config.inference`, `config.model` and the dataset facts of
  `config.data.name` (class order, void label)."""
  facts = dataset_facts.facts_for_config(config)
  num_things = config.model.num_thing_classes
  if num_things != facts.num_things:
    raise ValueError(
        f"config.model.num_thing_classes={num_things} != the "
        f"{facts.num_things} thing classes of {facts.name!r}.")
  return MergeSettings(
      num_thing_classes=num_things,
      max_per_img=int(config.inference.max_per_img),
      instance_score_thr=float(config.inference.instance_score_thr),
      overlap_thr=float(config.inference.overlap_thr),
      mask_thr=float(config.inference.mask_thr),
      mask_upsample_stride=int(config.model.update_head.mask_upsample_stride),
      train_ids=facts.model_to_semantic,
      void_label=facts.void_label,
      merge=_checked_merge(str(config.inference.get("merge", "joint"))),
      iou_thr=float(config.inference.get("merge_iou_thr", 0.5)),
      stuff_max_area=int(config.inference.get("stuff_max_area", 4096)))


def _checked_merge(merge: str) -> str:
  if merge not in MERGES:
    raise ValueError(f"config.inference.merge={merge!r}; expected one of {MERGES}.")
  return merge


@flax.struct.dataclass
class PanopticResult:
  """One frame's panoptic segmentation; segments sorted by descending score."""
  semantic: jax.Array          # [H, W] int32 trainId, void_label = void.
  segment_map: jax.Array       # [H, W] int32 segment index, -1 = void.
  segment_class: jax.Array     # [S] int32 model class index.
  segment_train_id: jax.Array  # [S] int32 dataset trainId.
  segment_is_thing: jax.Array  # [S] bool.
  segment_score: jax.Array     # [S] float32 sigmoid class score.
  segment_kernel: jax.Array    # [S] int32 kernel index (things: proposal 0..P-1).
  segment_kept: jax.Array      # [S] bool, True if the segment owns pixels in the map.
  segment_area: jax.Array      # [S] int32 pixels owned in the argmax (before rejection).


def num_thing_candidates(num_proposals: int, settings: MergeSettings) -> int:
  """k of the thing top-k: max_per_img, capped by the number of (proposal, class) pairs."""
  return min(settings.max_per_img, num_proposals * settings.num_thing_classes)


def _upsample_phases(logits_hw: Tuple[int, int], padded_hw: Tuple[int, int],
                     upsample_stride: int) -> Tuple[int, int]:
  """`dense_ops.phase_factors` from the stride-2 map to the padded size."""
  return dense_ops.phase_factors([d * upsample_stride for d in logits_hw], padded_hw)


def candidate_probability_planes(mask_logits: jax.Array, padded_hw: Tuple[int, int],
                                 upsample_stride: int) -> list:
  """`candidate_probabilities` as phase planes (`dense_ops.resize_planes`):
  A * B planes [n, H / A, W / B] with (A, B) = `_upsample_phases(...)`."""
  n, h, w = mask_logits.shape
  up = dense_ops.resize_bilinear(mask_logits.astype(jnp.float32),
                                 (n, h * upsample_stride, w * upsample_stride))
  return dense_ops.resize_planes(jax.nn.sigmoid(up), padded_hw)


def candidate_probabilities(mask_logits: jax.Array, padded_hw: Tuple[int, int],
                            upsample_stride: int) -> jax.Array:
  """`rescale_masks`: logits x stride (bilinear) -> sigmoid -> bilinear to the padded size.

  Bilinear as jax.image.resize with antialias=False (torch's bilinear,
  align_corners=False), by `dense_ops`' phase planes for integer factors.
  [n, h, w] -> [n, H, W].
  """
  return _interleaved(candidate_probability_planes(mask_logits, padded_hw, upsample_stride),
                      _upsample_phases(mask_logits.shape[1:], padded_hw, upsample_stride))


def _planes_of(plain: jax.Array, phases: Tuple[int, int]) -> list:
  """A [H, W] map as the phase planes of `candidate_probability_planes`."""
  split = dense_ops.split_phases(plain, *phases)
  return [split[a, b] for a in range(phases[0]) for b in range(phases[1])]


def _interleaved(planes: list, phases: Tuple[int, int]) -> jax.Array:
  """Phase planes of a (rows, cols) upsampling -> the [..., H, W] map."""
  return dense_ops.interleave_phases(dense_ops.stack_planes(planes, *phases))


def _count(mask: jax.Array) -> jax.Array:
  """#True of a bool map as int32; summed as float32 (exact below 2^24 pixels),
  which XLA:CPU reduces faster than int32 (docs/BENCHMARKS.md "Session 14")."""
  if mask.size < 2**24:
    return jnp.sum(mask.astype(jnp.float32)).astype(jnp.int32)
  return jnp.sum(mask, dtype=jnp.int32)


def _winner_and_mask_area(cand_logits: jax.Array, cand_score: jax.Array,
                          valid: jax.Array, settings: MergeSettings):
  """Per pixel, the candidate with the largest score * probability (first on
  ties, as `jnp.argmax`), and each candidate's #pixels with probability >=
  mask_thr inside `valid`: cand_logits [S, h, w] -> (winner [H, W], orig [S]).

  Candidates are streamed from their logits to full-size probabilities
  (`dense_ops.argmax_first_streamed`), three per pass over the running maps,
  plane by plane: the [S, H, W] probabilities (224 MB at 384x1248) are never
  stored, and the winner is interleaved once. At 384x1248 with 117
  candidates: 0.04 s, against 0.14 s for one candidate at a time on the
  interleaved map (docs/BENCHMARKS.md "Session 14").
  """
  stride = settings.mask_upsample_stride
  phases = _upsample_phases(cand_logits.shape[1:], valid.shape, stride)
  valid_planes = _planes_of(valid, phases)

  def one(inputs):
    logits, score = inputs
    planes = [p[0] for p in candidate_probability_planes(logits[None], valid.shape, stride)]
    orig = sum(_count((p >= settings.mask_thr) & v) for p, v in zip(planes, valid_planes))
    return [score * p for p in planes], orig

  winner, orig = dense_ops.argmax_first_streamed(one, (cand_logits, cand_score), group=3)
  return _interleaved(winner, phases), orig


def panoptic_merge(mask_logits: jax.Array, cls_logits: jax.Array,
                   image_hw: jax.Array, padded_hw: Tuple[int, int],
                   settings: MergeSettings) -> PanopticResult:
  """Joint panoptic merge of one image.

  Args:
    mask_logits: [N, h, w] last-stage mask logits (stride 8), N = P + num_stuff.
    cls_logits: [N, C] last-stage class logits.
    image_hw: [2] int32 (H0, W0), the unpadded image size (may be traced).
    padded_hw: static (H, W) of the padded network input.
    settings: see `MergeSettings`.

  Returns:
    A `PanopticResult` with maps of shape `padded_hw` (void outside image_hw).
  """
  num_kernels, num_classes = cls_logits.shape
  num_things = settings.num_thing_classes
  num_stuff = num_classes - num_things
  num_proposals = num_kernels - num_stuff
  if mask_logits.shape[0] != num_kernels:
    raise ValueError(f"mask_logits has {mask_logits.shape[0]} kernels, cls_logits {num_kernels}.")
  if num_proposals <= 0 or len(settings.train_ids) != num_classes:
    raise ValueError(
        f"cls_logits [{num_kernels}, {num_classes}] does not fit {num_things} thing classes "
        f"and {len(settings.train_ids)} trainIds (config.data / config.model).")

  scores = jax.nn.sigmoid(cls_logits.astype(jnp.float32))           # [N, C]
  # Things: top-k over (proposal, thing class) pairs, flattened proposal-major.
  k = num_thing_candidates(num_proposals, settings)
  thing_pairs = scores[:num_proposals, :num_things].reshape(-1)     # [P * T]
  thing_scores, pair_idx = jax.lax.top_k(thing_pairs, k)            # [k], sorted desc.
  thing_kernel = pair_idx // num_things
  thing_class = pair_idx % num_things
  # Stuff: kernel P + j scores its own class T + j (the diagonal), sorted desc.
  stuff_diag = jnp.diagonal(scores[num_proposals:, num_things:])    # [num_stuff]
  stuff_order = jnp.argsort(-stuff_diag, stable=True)
  stuff_scores = stuff_diag[stuff_order]
  stuff_kernel = num_proposals + stuff_order
  stuff_class = num_things + stuff_order

  # Candidates in the original's concatenation order (decides argmax ties).
  cand_score = jnp.concatenate([thing_scores, stuff_scores])        # [S]
  cand_kernel = jnp.concatenate([thing_kernel, stuff_kernel]).astype(jnp.int32)
  cand_class = jnp.concatenate([thing_class, stuff_class]).astype(jnp.int32)
  cand_is_thing = jnp.arange(k + num_stuff) < k
  num_cand = k + num_stuff

  height, width = padded_hw
  valid = ((jnp.arange(height)[:, None] < image_hw[0])
           & (jnp.arange(width)[None, :] < image_hw[1]))            # [H, W]
  if settings.merge != "joint":
    return _sequential_merge(mask_logits[cand_kernel], valid, cand_score, cand_kernel,
                             cand_class, k, settings)
  winner, orig = _winner_and_mask_area(mask_logits[cand_kernel], cand_score, valid,
                                       settings)
  area = jnp.zeros((num_cand,), jnp.int32).at[winner].add(valid.astype(jnp.int32))

  # Walk order: by descending score (stable; concatenation order breaks ties).
  order = jnp.argsort(-cand_score, stable=True)                     # [S] candidate ids.
  rank = jnp.zeros((num_cand,), jnp.int32).at[order].set(jnp.arange(num_cand, dtype=jnp.int32))
  # A thing kernel seen earlier in the walk with another class is a duplicate.
  same_kernel = cand_kernel[:, None] == cand_kernel[None, :]
  earlier = rank[None, :] < rank[:, None]
  duplicate = cand_is_thing & jnp.any(same_kernel & earlier & cand_is_thing[None, :], axis=1)

  ratio = area.astype(jnp.float32) / jnp.maximum(orig, 1).astype(jnp.float32)
  kept = ((~cand_is_thing | (cand_score >= settings.instance_score_thr))
          & (area > 0) & (orig > 0) & (ratio >= settings.overlap_thr) & ~duplicate)

  train_ids = jnp.asarray(settings.train_ids, jnp.int32)
  seg_of_cand = jnp.where(kept, rank, VOID_SEGMENT)                 # [S]
  segment_map = jnp.where(valid, seg_of_cand[winner], VOID_SEGMENT)
  seg_class = cand_class[order]
  seg_train_id = train_ids[seg_class]
  semantic = jnp.where(segment_map >= 0, seg_train_id[jnp.maximum(segment_map, 0)],
                       settings.void_label)
  return PanopticResult(
      semantic=semantic.astype(jnp.int32),
      segment_map=segment_map.astype(jnp.int32),
      segment_class=seg_class,
      segment_train_id=seg_train_id,
      segment_is_thing=cand_is_thing[order],
      segment_score=cand_score[order],
      segment_kernel=cand_kernel[order],
      segment_kept=kept[order],
      segment_area=area[order])


def _sequential_merge(cand_logits, valid, cand_score, cand_kernel, cand_class,
                      num_thing_cand: int, settings: MergeSettings) -> PanopticResult:
  """The original's thing-first / stuff-first merge (module doc) of S candidates
  (cand_logits [S, h, w]): the first num_thing_cand are things, then stuff, each
  group sorted by score. Each step upsamples its own candidate's mask, so the
  [S, H, W] probabilities are never stored (as in the joint merge)."""
  num_cand = cand_score.shape[0]
  cand_is_thing = jnp.arange(num_cand) < num_thing_cand
  order = jnp.arange(num_cand)
  if settings.merge == "stuff_first":
    order = jnp.roll(order, num_cand - num_thing_cand)               # stuff, then things.

  stride = settings.mask_upsample_stride
  phases = _upsample_phases(cand_logits.shape[1:], valid.shape, stride)
  valid_planes = _planes_of(valid, phases)

  def paint(segment_planes, step):   # the segment map and the masks as phase planes.
    position, cand = step
    planes = candidate_probability_planes(cand_logits[cand][None], valid.shape, stride)
    masks = [(p[0] > settings.mask_thr) & v for p, v in zip(planes, valid_planes)]
    area = sum(jnp.sum(m, dtype=jnp.int32) for m in masks)
    new = [m & (seg < 0) for m, seg in zip(masks, segment_planes)]
    new_area = sum(jnp.sum(m, dtype=jnp.int32) for m in new)
    taken = (area - new_area).astype(jnp.float32) / jnp.maximum(area, 1).astype(jnp.float32)
    thing_ok = ((cand_score[cand] >= settings.instance_score_thr) & (area > 0)
                & (taken <= settings.iou_thr) & (new_area > 0))
    stuff_ok = new_area >= max(int(settings.stuff_max_area), 1)
    keep = jnp.where(cand_is_thing[cand], thing_ok, stuff_ok)
    painted = [jnp.where(keep & m, position, seg) for m, seg in zip(new, segment_planes)]
    return painted, (keep, new_area)

  empty = [jnp.full(v.shape, VOID_SEGMENT, jnp.int32) for v in valid_planes]
  segment_planes, (kept, area) = jax.lax.scan(
      paint, empty, (jnp.arange(num_cand, dtype=jnp.int32), order))
  segment_map = _interleaved(segment_planes, phases)
  train_ids = jnp.asarray(settings.train_ids, jnp.int32)
  seg_class = cand_class[order]
  seg_train_id = train_ids[seg_class]
  semantic = jnp.where(segment_map >= 0, seg_train_id[jnp.maximum(segment_map, 0)],
                       settings.void_label)
  return PanopticResult(
      semantic=semantic.astype(jnp.int32), segment_map=segment_map,
      segment_class=seg_class, segment_train_id=seg_train_id,
      segment_is_thing=cand_is_thing[order], segment_score=cand_score[order],
      segment_kernel=cand_kernel[order], segment_kept=kept, segment_area=area)
