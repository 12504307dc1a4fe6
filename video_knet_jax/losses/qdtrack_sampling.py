"""QDTrack's association sampling, the paper's "sampling of [37]" ablation.

The released recipe pairs only proposals that the Hungarian matcher assigned
to a GT ("GT-based", `QuasiDenseMaskEmbedHeadGTMask`). QDTrack instead samples
by overlap (its `track_train_cfg`: `MaxIoUAssigner(pos_iou_thr=0.7,
neg_iou_thr=0.5)` + `CombinedSampler(num=256, pos_fraction=0.5,
neg_pos_ub=3)`): every proposal whose best IoU with a GT reaches pos_iou_thr
is a positive of that GT (several per GT: quasi-dense), proposals below
neg_iou_thr are negatives, and the reference frame's sampled negatives join its
positives as columns of the association matrix (key rows are positives only).

Here the overlap is mask IoU (proposal masks binarised at sigmoid > 0.5 and GT
masks at 0.5, both at the loss stride), since the proposals are masks. Two
departures, both forced by static shapes and the kernel embedding: GT masks are
not added as extra proposals (`add_gt_as_proposals`: a GT has no kernel), and
the negatives kept under the cap are the hardest (highest IoU) instead of
QDTrack's random IoU-balanced draw (no sampler RNG in a jitted loss).
"""
from typing import Any, Dict, NamedTuple

import jax
import jax.numpy as jnp

from video_knet_jax import common
from video_knet_jax.losses import resampling
from video_knet_jax.losses import segmentation_loss

NUM_SAMPLES = 256       # CombinedSampler.num.
POS_FRACTION = 0.5      # CombinedSampler.pos_fraction.


class Sample(NamedTuple):
  """One frame's sampled proposals."""
  pred_to_gt: jax.Array  # [..., P] int32 GT of a positive, -1 otherwise.
  negative: jax.Array    # [..., P] bool, a sampled negative.


def mask_iou(mask_logits: jax.Array, gt_masks: jax.Array) -> jax.Array:
  """[P, H, W] proposal logits, [M, H, W] soft GT -> [P, M] IoU of the binarised masks."""
  pred = (mask_logits > 0).reshape(mask_logits.shape[0], -1).astype(jnp.float32)
  gt = (gt_masks >= 0.5).reshape(gt_masks.shape[0], -1).astype(jnp.float32)
  inter = pred @ gt.T
  union = pred.sum(1)[:, None] + gt.sum(1)[None, :] - inter
  return jnp.where(union > 0, inter / jnp.maximum(union, 1.0), 0.0)


def sample(iou: jax.Array, gt_valid: jax.Array, *, pos_iou_thr: float,
           neg_iou_thr: float, neg_pos_ub: int) -> Sample:
  """`MaxIoUAssigner` + `CombinedSampler` of one image.

  Args:
    iou: [P, M] proposal x GT overlaps.
    gt_valid: [M] bool, False for padding GTs.
    pos_iou_thr, neg_iou_thr, neg_pos_ub: config.loss.qdtrack.

  Returns:
    Positives (best IoU >= pos_iou_thr, with that GT) and negatives (best IoU
    < neg_iou_thr; at most min(256 - #pos, neg_pos_ub * max(#pos, 1)),
    highest IoU first, ties by proposal order).
  """
  iou = jnp.where(gt_valid[None, :], iou, -1.0)
  best = jnp.argmax(iou, axis=1).astype(jnp.int32)
  best_iou = jnp.maximum(jnp.max(iou, axis=1), 0.0)     # no GT: IoU 0, a negative.
  positive = best_iou >= pos_iou_thr
  num_pos = jnp.minimum(jnp.sum(positive), int(NUM_SAMPLES * POS_FRACTION))
  candidate = best_iou < neg_iou_thr
  cap = jnp.minimum(NUM_SAMPLES - num_pos, neg_pos_ub * jnp.maximum(num_pos, 1))
  order = jnp.argsort(jnp.where(candidate, -best_iou, jnp.inf), stable=True)
  rank = jnp.zeros_like(order).at[order].set(jnp.arange(order.shape[0]))
  return Sample(pred_to_gt=jnp.where(positive, best, -1),
                negative=candidate & (rank < cap))


def frame_sample(outputs: Dict[str, jax.Array], targets: Dict[str, Any], config) -> Sample:
  """[B, P] sample of a frame's final-stage thing masks against its GT."""
  m, q = config.model, config.loss.qdtrack
  tg = segmentation_loss.prepare_targets(targets, config.loss.mask_assign_stride)
  masks = resampling.upsample_logits(
      outputs[common.STAGE_MASK_LOGITS][-1][:, :m.num_proposals],
      m.update_head.mask_upsample_stride)
  masks = jax.lax.stop_gradient(masks)
  iou = jax.vmap(mask_iou)(masks, tg.thing_masks)
  return jax.vmap(lambda i, v: sample(i, v, pos_iou_thr=q.pos_iou_thr,
                                      neg_iou_thr=q.neg_iou_thr,
                                      neg_pos_ub=q.neg_pos_ub))(iou, tg.thing_valid)
