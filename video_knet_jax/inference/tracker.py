"""Quasi-dense embedding tracker (original section 5, step 6) as a pure step.

The original `QuasiDenseEmbedTracker` keeps Python dicts that grow and shrink.
Here the memory is a fixed-size value: `max_tracks` tracklet slots and
`memo_backdrop_frames x K` backdrop slots, so memory is constant over any
sequence and `tracker_step` jits once. Per frame:

1. Detections are sorted by score (stable); detection i is dropped as a
   duplicate if its box IoU with any earlier valid detection exceeds
   `nms_backdrop_iou_thr` (score < obj_score_thr) or `nms_class_iou_thr`.
2. If any tracklet is alive: S = E_det @ E_mem^T over tracklets + backdrops;
   bisoftmax (softmax over memory + softmax over detections) / 2, times class
   equality (`with_cats`). `match_metric` 'softmax' keeps the softmax over
   memory only, 'cosine' scores the cosine similarity instead (the original's
   other two options). Greedy in score order: best memory entry; if
   conf > match_score_thr and it is a tracklet: det score > obj_score_thr
   takes its id (the column is zeroed for later detections), otherwise
   conf > nms_conf_thr marks the detection suppressed (-2). A backdrop match
   leaves -1.
3. Unmatched (-1) detections with score > init_score_thr get consecutive new ids.
4. Matched tracklets: embed <- (1 - m) old + m new (m = memo_momentum weights
   the NEW embedding, reference 10.3 item 21), box/label/last frame updated;
   new tracklets are written; the remaining -1 detections (after an IoU >
   nms_backdrop_iou_thr de-dup against earlier detections) become this frame's
   backdrops; tracklets with frame - last_frame >= memo_tracklet_frames die.

Differences from the original, on purpose: returned ids are aligned with the
INPUT detections (the original returns them for its sorted, filtered list and
the caller pairs them with the unfiltered masks, reference 10.3 item 18), and
they are 1-based with 0 = no id (the original's caller does `ids + 1`, maps -2
to 0). If more than `max_tracks` tracklets are alive, a new tracklet evicts the
least recently seen one (counted in `num_evicted`). Memory order only breaks
exact ties of the matching score. Velocity is not kept (the original never uses it).
As in the original, a frame without any valid detection leaves the memory
untouched (`skip_empty_frames`), so tracklets age only on frames with things.
"""
import dataclasses

import flax.struct
import jax
import jax.numpy as jnp

from video_knet_jax.inference import boxes as boxes_lib

_NO_MATCH = -1
_SUPPRESSED = -2


@dataclasses.dataclass(frozen=True)
class TrackerSettings:
  """Static tracker numbers (`config.tracker`)."""
  init_score_thr: float = 0.35
  obj_score_thr: float = 0.3
  match_score_thr: float = 0.5
  memo_tracklet_frames: int = 5
  memo_backdrop_frames: int = 1
  memo_momentum: float = 0.8
  nms_conf_thr: float = 0.5
  nms_backdrop_iou_thr: float = 0.3
  nms_class_iou_thr: float = 0.7
  with_cats: bool = True
  max_tracks: int = 64
  # The original never calls the tracker on a frame without thing segments,
  # so such a frame neither ages tracklets nor replaces the backdrops.
  skip_empty_frames: bool = True
  match_metric: str = "bisoftmax"   # or 'softmax', 'cosine'.


MATCH_METRICS = ("bisoftmax", "softmax", "cosine")


def tracker_settings_from_config(config) -> TrackerSettings:
  """Reads `config.tracker` (configs/kitti_step.py)."""
  t = config.tracker
  settings = TrackerSettings(
      init_score_thr=float(t.init_score_thr), obj_score_thr=float(t.obj_score_thr),
      match_score_thr=float(t.match_score_thr),
      memo_tracklet_frames=int(t.memo_tracklet_frames),
      memo_backdrop_frames=int(t.memo_backdrop_frames),
      memo_momentum=float(t.memo_momentum), nms_conf_thr=float(t.nms_conf_thr),
      nms_backdrop_iou_thr=float(t.nms_backdrop_iou_thr),
      nms_class_iou_thr=float(t.nms_class_iou_thr), with_cats=bool(t.with_cats),
      max_tracks=int(t.max_tracks),
      skip_empty_frames=bool(t.skip_empty_frames),
      match_metric=str(t.get("match_metric", "bisoftmax")))
  if settings.max_tracks < 1 or settings.memo_backdrop_frames < 0:
    raise ValueError("config.tracker.max_tracks must be >= 1 and "
                     "config.tracker.memo_backdrop_frames >= 0.")
  if settings.match_metric not in MATCH_METRICS:
    raise ValueError(f"config.tracker.match_metric={settings.match_metric!r}; expected one "
                     f"of {MATCH_METRICS}.")
  return settings


@flax.struct.dataclass
class TrackerState:
  """Tracker memory; T = max_tracks, F = memo_backdrop_frames, K detections."""
  embeds: jax.Array           # [T, E] float32 tracklet embeddings.
  labels: jax.Array           # [T] int32 model class.
  boxes: jax.Array            # [T, 4] float32 last box.
  last_frame: jax.Array       # [T] int32 frame of the last match.
  ids: jax.Array              # [T] int32 0-based track id.
  active: jax.Array           # [T] bool slot holds a live tracklet.
  backdrop_embeds: jax.Array  # [F, K, E] float32, row 0 = last frame.
  backdrop_labels: jax.Array  # [F, K] int32.
  backdrop_valid: jax.Array   # [F, K] bool.
  next_id: jax.Array          # [] int32 next 0-based id.
  num_evicted: jax.Array      # [] int32 live tracklets lost to a full memory.
  settings: TrackerSettings = flax.struct.field(pytree_node=False)


def init_tracker_state(settings: TrackerSettings, num_detections: int,
                       embed_dim: int) -> TrackerState:
  """Empty memory for K = num_detections detections of dimension E per frame."""
  t, f, k = settings.max_tracks, settings.memo_backdrop_frames, num_detections
  return TrackerState(
      embeds=jnp.zeros((t, embed_dim), jnp.float32),
      labels=jnp.zeros((t,), jnp.int32),
      boxes=jnp.zeros((t, 4), jnp.float32),
      last_frame=jnp.zeros((t,), jnp.int32),
      ids=jnp.zeros((t,), jnp.int32),
      active=jnp.zeros((t,), bool),
      backdrop_embeds=jnp.zeros((f, k, embed_dim), jnp.float32),
      backdrop_labels=jnp.zeros((f, k), jnp.int32),
      backdrop_valid=jnp.zeros((f, k), bool),
      next_id=jnp.zeros((), jnp.int32),
      num_evicted=jnp.zeros((), jnp.int32),
      settings=settings)


def _masked_softmax(logits, mask, axis):
  logits = jnp.where(mask, logits, -jnp.inf)
  peak = jnp.max(logits, axis=axis, keepdims=True)
  peak = jnp.where(jnp.isfinite(peak), peak, 0.0)
  e = jnp.where(mask, jnp.exp(logits - peak), 0.0)
  return e / jnp.maximum(jnp.sum(e, axis=axis, keepdims=True), 1e-30)


def match_score_matrix(det_embeds: jax.Array, mem_embeds: jax.Array, pair_ok: jax.Array,
                       metric: str = "bisoftmax") -> jax.Array:
  """[K, E] detections x [M, E] memory -> [K, M] matching scores (0 where not pair_ok).

  'bisoftmax': (softmax over the memory + softmax over the detections) / 2 of
  the dot products; 'softmax': the softmax over the memory alone; 'cosine':
  the cosine similarity. Softmaxes run over the pair_ok entries only.
  """
  if metric == "cosine":
    unit = lambda x: x / jnp.maximum(jnp.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    scores = jnp.matmul(unit(det_embeds), unit(mem_embeds).T,
                        precision=jax.lax.Precision.HIGHEST)
    return jnp.where(pair_ok, scores, 0.0)
  sim = jnp.matmul(det_embeds, mem_embeds.T, precision=jax.lax.Precision.HIGHEST)
  if metric == "softmax":
    return _masked_softmax(sim, pair_ok, 1)
  if metric != "bisoftmax":
    raise ValueError(f"match_metric={metric!r}; expected one of {MATCH_METRICS}.")
  return (_masked_softmax(sim, pair_ok, 1) + _masked_softmax(sim, pair_ok, 0)) / 2


def _check_inputs(state, embeds, labels, scores, boxes, valid):
  k, e = embeds.shape
  if state.backdrop_labels.shape[1] != k or state.embeds.shape[1] != e:
    raise ValueError(
        f"tracker_step got embeds [{k}, {e}] but the state was built for "
        f"[{state.backdrop_labels.shape[1]}, {state.embeds.shape[1]}] (init_tracker_state).")
  for name, x, shape in (("labels", labels, (k,)), ("scores", scores, (k,)),
                         ("boxes", boxes, (k, 4)), ("valid", valid, (k,))):
    if x.shape != shape:
      raise ValueError(f"tracker_step: {name} has shape {x.shape}, expected {shape}.")


def tracker_step(state: TrackerState, embeds: jax.Array, labels: jax.Array,
                 scores: jax.Array, boxes: jax.Array, valid: jax.Array,
                 frame_index) -> tuple:
  """One frame of quasi-dense association.

  Args:
    state: the memory after the previous frame (`init_tracker_state` at a start).
    embeds: [K, E] detection embeddings (raw dot-product similarity).
    labels: [K] int32 model class of each detection.
    scores: [K] float32 detection scores.
    boxes: [K, 4] float32 (x1, y1, x2, y2).
    valid: [K] bool, False for padding rows.
    frame_index: int32 scalar, frame number within the sequence.

  Returns:
    (new_state, ids): ids [K] int32, 1-based track id per INPUT detection,
    0 for invalid, duplicate, suppressed or unmatched low-score detections.
  """
  _check_inputs(state, embeds, labels, scores, boxes, valid)
  cfg = state.settings
  k = embeds.shape[0]
  t = cfg.max_tracks
  frame_index = jnp.asarray(frame_index, jnp.int32)
  embeds = jnp.asarray(embeds, jnp.float32)
  scores = jnp.asarray(scores, jnp.float32)
  boxes = jnp.asarray(boxes, jnp.float32)
  labels = jnp.asarray(labels, jnp.int32)
  valid = jnp.asarray(valid, bool)

  # 1. Sort by score (valid first) and drop duplicates by box IoU.
  order = jnp.argsort(jnp.where(valid, -scores, jnp.inf), stable=True)   # [K]
  s_embeds, s_labels = embeds[order], labels[order]
  s_scores, s_boxes, s_valid = scores[order], boxes[order], valid[order]
  iou = boxes_lib.box_iou(s_boxes, s_boxes)                               # [K, K]
  before = (jnp.arange(k)[None, :] < jnp.arange(k)[:, None]) & s_valid[None, :]
  dup_thr = jnp.where(s_scores < cfg.obj_score_thr, cfg.nms_backdrop_iou_thr,
                      cfg.nms_class_iou_thr)
  duplicate = jnp.any((iou > dup_thr[:, None]) & before, axis=1)
  det_ok = s_valid & ~duplicate                                           # [K]

  # 2. Bisoftmax similarity to tracklets + backdrops, greedy matching.
  f = cfg.memo_backdrop_frames
  mem_embeds = jnp.concatenate([state.embeds, state.backdrop_embeds.reshape(f * k, -1)])
  mem_labels = jnp.concatenate([state.labels, state.backdrop_labels.reshape(-1)])
  mem_valid = jnp.concatenate([state.active, state.backdrop_valid.reshape(-1)])
  mem_ids = jnp.concatenate([state.ids, jnp.full((f * k,), _NO_MATCH, jnp.int32)])
  pair_ok = det_ok[:, None] & mem_valid[None, :]                          # [K, M]
  match_scores = match_score_matrix(s_embeds, mem_embeds, pair_ok, cfg.match_metric)
  if cfg.with_cats:
    match_scores *= (s_labels[:, None] == mem_labels[None, :])
  # The original matches only when at least one tracklet is alive.
  match_scores = jnp.where(pair_ok & jnp.any(state.active), match_scores, 0.0)

  def greedy(taken, inputs):
    row, score = inputs
    row = jnp.where(taken, 0.0, row)
    best = jnp.argmax(row)
    conf = row[best]
    hit = (conf > cfg.match_score_thr) & (best < t)
    take = hit & (score > cfg.obj_score_thr)
    suppress = hit & ~take & (conf > cfg.nms_conf_thr)
    det_id = jnp.where(take, mem_ids[best], jnp.where(suppress, _SUPPRESSED, _NO_MATCH))
    slot = jnp.where(take, best, t)                                       # t = none.
    return taken.at[best].set(taken[best] | take), (det_id, slot)

  _, (s_ids, matched_slot) = jax.lax.scan(
      greedy, jnp.zeros(mem_ids.shape, bool), (match_scores, s_scores))

  # 3. New tracklets, consecutive ids in score order.
  is_new = det_ok & (s_ids == _NO_MATCH) & (s_scores > cfg.init_score_thr)
  new_rank = jnp.cumsum(is_new) - 1
  s_ids = jnp.where(is_new, state.next_id + new_rank, s_ids).astype(jnp.int32)
  next_id = state.next_id + jnp.sum(is_new, dtype=jnp.int32)

  # 4a. Momentum update of the matched tracklets (slot t = dropped write).
  m = cfg.memo_momentum
  old = state.embeds[jnp.minimum(matched_slot, t - 1)]
  mem = dict(
      embeds=state.embeds.at[matched_slot].set((1 - m) * old + m * s_embeds, mode="drop"),
      labels=state.labels.at[matched_slot].set(s_labels, mode="drop"),
      boxes=state.boxes.at[matched_slot].set(s_boxes, mode="drop"),
      last_frame=state.last_frame.at[matched_slot].set(frame_index, mode="drop"))
  alive = state.active & (frame_index - mem["last_frame"] < cfg.memo_tracklet_frames)

  # 4b. New tracklets take free slots first, then the least recently seen ones.
  slot_key = jnp.where(alive, mem["last_frame"], jnp.iinfo(jnp.int32).min)
  slot_order = jnp.argsort(slot_key, stable=True)                         # [T]
  new_slot = jnp.where(is_new & (new_rank < t), slot_order[jnp.clip(new_rank, 0, t - 1)], t)
  evicted = (jnp.sum(is_new & (new_rank >= t), dtype=jnp.int32)
             + jnp.sum(alive.at[new_slot].get(mode="fill", fill_value=False)
                       & (new_slot < t), dtype=jnp.int32))
  mem["embeds"] = mem["embeds"].at[new_slot].set(s_embeds, mode="drop")
  mem["labels"] = mem["labels"].at[new_slot].set(s_labels, mode="drop")
  mem["boxes"] = mem["boxes"].at[new_slot].set(s_boxes, mode="drop")
  mem["last_frame"] = mem["last_frame"].at[new_slot].set(frame_index, mode="drop")
  track_ids = state.ids.at[new_slot].set(s_ids, mode="drop")
  active = alive.at[new_slot].set(True, mode="drop")
  active &= frame_index - mem["last_frame"] < cfg.memo_tracklet_frames

  # 4c. Backdrops: unmatched detections not overlapping an earlier detection.
  is_backdrop = det_ok & (s_ids == _NO_MATCH)
  earlier_ok = (jnp.arange(k)[None, :] < jnp.arange(k)[:, None]) & det_ok[None, :]
  is_backdrop &= ~jnp.any((iou > cfg.nms_backdrop_iou_thr) & earlier_ok, axis=1)
  if f > 0:
    bd_embeds = jnp.concatenate([s_embeds[None], state.backdrop_embeds[:-1]])
    bd_labels = jnp.concatenate([s_labels[None], state.backdrop_labels[:-1]])
    bd_valid = jnp.concatenate([is_backdrop[None], state.backdrop_valid[:-1]])
  else:
    bd_embeds, bd_labels, bd_valid = (state.backdrop_embeds, state.backdrop_labels,
                                      state.backdrop_valid)

  new_state = state.replace(
      embeds=mem["embeds"], labels=mem["labels"], boxes=mem["boxes"],
      last_frame=mem["last_frame"], ids=track_ids, active=active,
      backdrop_embeds=bd_embeds, backdrop_labels=bd_labels, backdrop_valid=bd_valid,
      next_id=next_id, num_evicted=state.num_evicted + evicted)

  if cfg.skip_empty_frames:
    new_state = jax.tree.map(lambda new, old: jnp.where(jnp.any(valid), new, old),
                             new_state, state)

  # Output: 1-based ids (0 = none), back in input order.
  s_out = jnp.where(det_ok & (s_ids >= 0), s_ids + 1, 0).astype(jnp.int32)
  ids = jnp.zeros((k,), jnp.int32).at[order].set(s_out)
  return new_state, ids
