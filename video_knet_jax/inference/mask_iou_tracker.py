"""Mask-IoU association: the no-embedding baseline for the tracking ablation.

Each frame's thing segments are matched to the previous frame's tracked
segments by mask IoU: greedily, detections in descending score order each take
the unclaimed previous segment of the same class (if `with_cats`) with the
highest IoU, if that IoU > `mask_iou_thr`. Unmatched detections with score >
`init_score_thr` start new ids. Memory is the previous frame only (a segment
map plus one id and label per previous detection), so an object missing for
one frame gets a new id. The state has the same style as `tracker.py`: a
fixed-size value and a pure, jit-able step.

Intersections come from one joint histogram of (current, previous) segment
indices over the pixels, which is exact because segments of a panoptic map
are disjoint.
"""
import dataclasses

import flax.struct
import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class MaskIouSettings:
  """Static numbers (`config.tracker`)."""
  mask_iou_thr: float = 0.5
  init_score_thr: float = 0.35
  with_cats: bool = True


def mask_iou_settings_from_config(config) -> MaskIouSettings:
  t = config.tracker
  return MaskIouSettings(mask_iou_thr=float(t.mask_iou_thr),
                         init_score_thr=float(t.init_score_thr),
                         with_cats=bool(t.with_cats))


@flax.struct.dataclass
class MaskIouState:
  """Previous frame's tracked segments; K detections per frame, maps [H, W]."""
  prev_map: jax.Array      # [H, W] int32 previous detection index, -1 = none/untracked.
  prev_ids: jax.Array      # [K] int32 1-based id of each previous detection, 0 = none.
  prev_labels: jax.Array   # [K] int32 model class.
  next_id: jax.Array       # [] int32 next 1-based id.
  settings: MaskIouSettings = flax.struct.field(pytree_node=False)


def init_mask_iou_state(settings: MaskIouSettings, num_detections: int,
                        map_hw) -> MaskIouState:
  return MaskIouState(
      prev_map=jnp.full(tuple(map_hw), -1, jnp.int32),
      prev_ids=jnp.zeros((num_detections,), jnp.int32),
      prev_labels=jnp.zeros((num_detections,), jnp.int32),
      next_id=jnp.ones((), jnp.int32),
      settings=settings)


def mask_iou_matrix(cur_map: jax.Array, prev_map: jax.Array, num_cur: int,
                    num_prev: int) -> jax.Array:
  """[num_cur, num_prev] IoU of the segments of two index maps (-1 = none)."""
  if cur_map.shape != prev_map.shape:
    raise ValueError(f"mask IoU: map shapes differ {cur_map.shape} vs {prev_map.shape}.")
  cur = jnp.clip(cur_map, -1, num_cur - 1).reshape(-1) + 1
  prev = jnp.clip(prev_map, -1, num_prev - 1).reshape(-1) + 1
  joint = jnp.zeros(((num_cur + 1) * (num_prev + 1),), jnp.int32)
  joint = joint.at[cur * (num_prev + 1) + prev].add(1).reshape(num_cur + 1, num_prev + 1)
  cur_area = jnp.sum(joint, axis=1)[1:]
  prev_area = jnp.sum(joint, axis=0)[1:]
  inter = joint[1:, 1:]
  union = cur_area[:, None] + prev_area[None, :] - inter
  return jnp.where(union > 0, inter / jnp.maximum(union, 1), 0.0).astype(jnp.float32)


def mask_iou_tracker_step(state: MaskIouState, det_map: jax.Array, labels: jax.Array,
                          scores: jax.Array, valid: jax.Array, frame_index=0) -> tuple:
  """One frame of mask-IoU association.

  Args:
    state: previous frame (`init_mask_iou_state` at a sequence start).
    det_map: [H, W] int32 index of the detection owning each pixel, -1 = none.
    labels: [K] int32 model class; scores: [K] float32; valid: [K] bool.
    frame_index: unused (same signature style as `tracker.tracker_step`).

  Returns:
    (new_state, ids): ids [K] int32 1-based, 0 = no id.
  """
  del frame_index
  cfg = state.settings
  det_map, labels = jnp.asarray(det_map, jnp.int32), jnp.asarray(labels, jnp.int32)
  scores, valid = jnp.asarray(scores, jnp.float32), jnp.asarray(valid, bool)
  k = labels.shape[0]
  if state.prev_ids.shape != (k,) or det_map.shape != state.prev_map.shape:
    raise ValueError(
        f"mask_iou_tracker_step: got {k} detections and map {det_map.shape}, state was "
        f"built for {state.prev_ids.shape[0]} and {state.prev_map.shape}.")
  det_map = jnp.where((det_map >= 0) & valid[jnp.clip(det_map, 0, k - 1)], det_map, -1)
  iou = mask_iou_matrix(det_map, state.prev_map, k, k)                    # [K, K]
  ok = valid[:, None] & (state.prev_ids > 0)[None, :]
  if cfg.with_cats:
    ok &= labels[:, None] == state.prev_labels[None, :]
  iou = jnp.where(ok, iou, 0.0)

  order = jnp.argsort(jnp.where(valid, -scores, jnp.inf), stable=True)

  def greedy(taken, det):
    row = jnp.where(taken, 0.0, iou[det])
    best = jnp.argmax(row)
    hit = valid[det] & (row[best] > cfg.mask_iou_thr)
    return taken.at[best].set(taken[best] | hit), jnp.where(hit, state.prev_ids[best], 0)

  _, s_ids = jax.lax.scan(greedy, jnp.zeros((k,), bool), order)
  s_valid, s_scores = valid[order], scores[order]
  is_new = s_valid & (s_ids == 0) & (s_scores > cfg.init_score_thr)
  s_ids = jnp.where(is_new, state.next_id + jnp.cumsum(is_new) - 1, s_ids).astype(jnp.int32)
  ids = jnp.zeros((k,), jnp.int32).at[order].set(s_ids)

  tracked = (det_map >= 0) & (ids[jnp.clip(det_map, 0, k - 1)] > 0)
  new_state = state.replace(
      prev_map=jnp.where(tracked, det_map, -1).astype(jnp.int32),
      prev_ids=ids, prev_labels=labels.astype(jnp.int32),
      next_id=state.next_id + jnp.sum(is_new, dtype=jnp.int32))
  return new_state, ids
