"""Training targets built inside the jitted step from compact label maps.

The same definitions as `targets.frame_targets` (the host/TensorFlow
version; see its module doc), in JAX with static shapes, so the input
pipeline can ship two int32 maps per frame (SEMANTIC, INSTANCE: 8 bytes a
pixel) instead of M + S uint8 masks per frame (~50 bytes a pixel for
KITTI-STEP), and the accelerator builds the padded masks. The results are
identical to the host ones, tie-breaking included: when more than
`max_instances` things are visible the largest are kept, equal areas
resolved in favour of the instance met first in row-major order (as
`tf.unique_with_counts` + `tf.math.top_k` do).

No TensorFlow here: the train step imports this module.
"""
import dataclasses

import jax
import jax.numpy as jnp

from video_knet_jax.datasets import facts as dataset_facts
from video_knet_jax import common

_NO_ID = jnp.iinfo(jnp.int32).max   # sorts after every panoptic id.


@dataclasses.dataclass(frozen=True)
class TargetParams:
  num_classes: int
  thing_train_ids: tuple[int, ...]
  ignore_label: int
  max_instances: int
  panoptic_divisor: int
  crowd_as_instance: bool

  @property
  def stuff_train_ids(self) -> tuple[int, ...]:
    return tuple(c for c in range(self.num_classes)
                 if c not in self.thing_train_ids)


def target_params(config) -> TargetParams:
  """The target settings of `config.data` (host and device alike)."""
  d = config.data
  facts = dataset_facts.facts_for_config(config)
  return TargetParams(
      num_classes=facts.num_classes, thing_train_ids=tuple(facts.thing_ids),
      ignore_label=facts.void_label, max_instances=int(d.max_instances),
      panoptic_divisor=facts.label_divisor,
      crowd_as_instance=bool(d.get("crowd_as_instance", False)))


def _largest_ids_by_sorting(pan: jax.Array, is_thing: jax.Array, m: int
                            ) -> tuple[jax.Array, jax.Array]:
  """Panoptic ids of the (up to) m largest things, sorted; -1 padded (any ids).

  pan, is_thing: [H, W]. Returns (ids [m] int32, valid [m] bool).
  """
  n = pan.size
  flat = jnp.where(is_thing, pan, _NO_ID).reshape(-1)                # [n]
  pixel = jnp.arange(n, dtype=jnp.int32)
  # Stable sort by id: each run's first element is its first pixel.
  ids_sorted, first_pixel = jax.lax.sort((flat, pixel), num_keys=1,
                                         is_stable=True)
  present = ids_sorted != _NO_ID
  starts = present & jnp.concatenate(
      [jnp.ones((1,), bool), ids_sorted[1:] != ids_sorted[:-1]])
  run = jnp.cumsum(starts) - 1                                       # [n]
  run_at_start = jnp.where(starts, run, n)       # n: dropped by the scatter.
  run_id = jnp.full((n,), _NO_ID).at[run_at_start].set(ids_sorted,
                                                       mode="drop")
  run_first = jnp.full((n,), n, jnp.int32).at[run_at_start].set(
      first_pixel, mode="drop")
  run_area = jnp.zeros((n,), jnp.int32).at[jnp.where(present, run, n)].add(
      1, mode="drop")
  # Largest area first; equal areas: the one met first (top_k's order over
  # unique_with_counts' first-occurrence order).
  _, _, by_size = jax.lax.sort((-run_area, run_first, run_id), num_keys=2)
  k = jnp.minimum(jnp.sum(starts), m)
  valid = jnp.arange(m) < k
  ids = jnp.sort(jnp.where(valid, by_size[:m], _NO_ID))
  return jnp.where(valid, ids, -1), valid


def _largest_ids_by_histogram(pan: jax.Array, is_thing: jax.Array, m: int,
                              num_ids: int) -> tuple[jax.Array, jax.Array]:
  """`_largest_ids_by_sorting` for thing ids in [0, num_ids): areas and first
  pixels by scattering into num_ids bins (O(H*W)) instead of sorting the
  pixels (two O(H*W log) sorts: 0.28 s of a 384x1248 train step on a CPU)."""
  n = pan.size
  flat = jnp.where(is_thing, pan, num_ids).reshape(-1)   # num_ids: dropped.
  area = jnp.zeros((num_ids,), jnp.int32).at[flat].add(1, mode="drop")
  first = jnp.full((num_ids,), n, jnp.int32).at[flat].min(
      jnp.arange(n, dtype=jnp.int32), mode="drop")
  # Largest area first; equal areas: the one met first (absent ids: area 0,
  # after every present one).
  _, _, by_size = jax.lax.sort((-area, first, jnp.arange(num_ids, dtype=jnp.int32)),
                               num_keys=2)
  k = jnp.minimum(jnp.sum(area > 0), m)
  valid = jnp.arange(m) < k
  ids = jnp.sort(jnp.where(valid, by_size[:m], _NO_ID))
  return jnp.where(valid, ids, -1), valid


def thing_id_range(params: TargetParams) -> int:
  """Panoptic ids of things lie in [0, this) when instance ids < the divisor."""
  return max((max(params.thing_train_ids, default=-1) + 1) * params.panoptic_divisor, 1)


def frame_targets(semantic: jax.Array, instance: jax.Array, params: TargetParams,
                  by_histogram: bool = False) -> dict[str, jax.Array]:
  """[H, W] int32 semantic and instance maps -> the per-frame target dict
  (the keys, shapes and dtypes of `targets.frame_targets`).

  by_histogram: the things' ids by area from a histogram over
  `thing_id_range` (faster; only for maps whose thing ids all lie in it,
  as `complete_batch` checks), else by sorting the pixels (any ids)."""
  things = jnp.asarray(params.thing_train_ids, jnp.int32)
  is_thing = jnp.any(semantic[..., None] == things, axis=-1)
  if not params.crowd_as_instance:
    is_thing &= instance > 0
  pan = semantic * params.panoptic_divisor + instance
  if by_histogram:
    ids, valid = _largest_ids_by_histogram(pan, is_thing, params.max_instances,
                                           thing_id_range(params))
  else:
    ids, valid = _largest_ids_by_sorting(pan, is_thing, params.max_instances)
  masks = jnp.where(is_thing, pan, -2)[None] == ids[:, None, None]   # [M, H, W]
  classes = jnp.argmax(
      (ids // params.panoptic_divisor)[:, None] == things[None], axis=-1
  ).astype(jnp.int32)
  stuff = jnp.asarray(params.stuff_train_ids, jnp.int32)
  stuff_masks = semantic[None] == stuff[:, None, None]               # [S, H, W]
  return {
      common.SEMANTIC: semantic,
      common.THING_MASKS: masks.astype(jnp.uint8),
      common.THING_CLASSES: jnp.where(valid, classes, 0),
      common.THING_IDS: jnp.where(valid, ids, 0),
      common.THING_VALID: valid,
      common.STUFF_MASKS: stuff_masks.astype(jnp.uint8),
      common.STUFF_VALID: jnp.any(stuff_masks, axis=(1, 2)),
      common.VOID_MASK: semantic == params.ignore_label,
  }


def complete_batch(batch: dict, params: TargetParams) -> dict:
  """A batch with compact labels (SEMANTIC, INSTANCE [B, T, H, W]) -> the
  same batch with every target key of `common` added (INSTANCE dropped).
  A batch that already has THING_MASKS is returned unchanged."""
  if common.THING_MASKS in batch:
    return batch
  if common.INSTANCE not in batch or common.SEMANTIC not in batch:
    raise KeyError("device_targets.complete_batch: the batch needs either the "
                   f"targets ({common.THING_MASKS!r}, ...) or the compact "
                   f"labels {common.SEMANTIC!r} and {common.INSTANCE!r}; it "
                   f"has {sorted(batch)}.")
  semantic = batch[common.SEMANTIC].astype(jnp.int32)
  instance = batch[common.INSTANCE].astype(jnp.int32)

  def per_frame(by_histogram):
    return lambda: jax.vmap(jax.vmap(lambda s, i: frame_targets(
        s, i, params, by_histogram)))(semantic, instance)

  # The histogram path unless a thing id of the batch lies outside its range
  # (an instance id >= the divisor); one decision for the whole batch, so
  # that only the chosen path runs.
  things = jnp.asarray(params.thing_train_ids, jnp.int32)
  pan = semantic * params.panoptic_divisor + instance
  is_thing = jnp.any(semantic[..., None] == things, axis=-1)
  outside = jnp.any(is_thing & ((pan < 0) | (pan >= thing_id_range(params))))
  out = {k: v for k, v in batch.items() if k != common.INSTANCE}
  out.update(jax.lax.cond(outside, per_frame(False), per_frame(True)))
  return out
