"""Frozen copy of the per-frame losses as they were at commit 777bb3c.

Test-only: `test_frame_losses_equal_frozen` checks that the restructured
`segmentation_loss.frame_losses` (one pass per mask set, losses on the matched
rows only, issue 30) gives the same losses and gradients as these formulas.
Do not edit: it is the reference, not code in use.
"""
# pylint: skip-file
from typing import Any, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import optax

from video_knet_jax import common

# ---- class_losses
def sigmoid_focal_loss(logits: jax.Array, targets: jax.Array,
                       weights: jax.Array, *, alpha: float,
                       gamma: float) -> jax.Array:
  """Element-wise weighted sigmoid focal loss (mmdet `sigmoid_focal_loss`).

  Args:
    logits: [..., C] class logits.
    targets: [..., C] {0, 1} one-hot targets (all zero = background).
    weights: broadcastable to [..., C]; element-wise loss weights.
    alpha, gamma: focal parameters.

  Returns:
    [..., C] weighted loss; the caller sums and divides by its avg_factor.
  """
  x = logits.astype(jnp.float32)
  t = targets.astype(jnp.float32)
  p = jax.nn.sigmoid(x)
  pt = (1 - p) * t + p * (1 - t)
  focal_weight = (alpha * t + (1 - alpha) * (1 - t)) * pt**gamma
  bce = jnp.maximum(x, 0) - x * t + jnp.log1p(jnp.exp(-jnp.abs(x)))
  return bce * focal_weight * weights


def softmax_cross_entropy(logits: jax.Array, labels: jax.Array,
                          ignore_index: int, axis: int = 1) -> jax.Array:
  """Per-element softmax CE; 0 where `labels == ignore_index`.

  Args:
    logits: e.g. [B, C, H, W] (class axis `axis`).
    labels: logits' shape without `axis`, int.
    ignore_index: label value that is ignored.
    axis: the class axis of `logits`.

  Returns:
    Loss with the shape of `labels`.
  """
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=axis)
  num_classes = logits.shape[axis]
  valid = labels != ignore_index
  safe = jnp.clip(jnp.where(valid, labels, 0), 0, num_classes - 1)
  nll = -jnp.take_along_axis(logp, jnp.expand_dims(safe, axis), axis=axis)
  return jnp.where(valid, jnp.squeeze(nll, axis), 0.0)


def mean_cross_entropy(logits: jax.Array, labels: jax.Array,
                       ignore_index: int, axis: int = 1) -> jax.Array:
  """mmdet 'mean' CE: sum over non-ignored / number of ALL elements."""
  return jnp.mean(softmax_cross_entropy(logits, labels, ignore_index, axis))


def accuracy(logits: jax.Array, labels: jax.Array,
             positive: jax.Array) -> jax.Array:
  """Top-1 accuracy in percent over positive rows ([..., C], [...], [...])."""
  correct = (jnp.argmax(logits, axis=-1) == labels) & positive
  num = jnp.sum(positive)
  return jnp.where(num > 0, 100.0 * jnp.sum(correct) / jnp.maximum(num, 1),
                   0.0)

# ---- mask_losses
# mmdet DiceLoss eps, added to each squared sum of the denominator.
DICE_LOSS_EPS = 1e-3


def sigmoid_bce(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """Element-wise BCE-with-logits on soft targets (same shape as logits)."""
  x = logits.astype(jnp.float32)
  t = targets.astype(jnp.float32)
  return jnp.maximum(x, 0) - x * t + jnp.log1p(jnp.exp(-jnp.abs(x)))


def dice_loss(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """mmdet DiceLoss per mask: [..., H, W] -> [...].

  1 - 2 sum(p t) / (sum(p^2) + eps + sum(t^2) + eps), p = sigmoid(logits).
  """
  p = jax.nn.sigmoid(logits.astype(jnp.float32))
  t = targets.astype(jnp.float32)
  num = 2 * jnp.sum(p * t, axis=(-2, -1))
  den = (jnp.sum(p * p, axis=(-2, -1)) + DICE_LOSS_EPS) + (
      jnp.sum(t * t, axis=(-2, -1)) + DICE_LOSS_EPS)
  return 1 - num / den


def _num_positive(positive: jax.Array) -> jax.Array:
  return jnp.sum(positive.astype(jnp.float32), axis=-1)


def mask_bce_loss(logits: jax.Array, targets: jax.Array,
                  positive: jax.Array) -> jax.Array:
  """Per-image mean BCE over all pixels of the positive masks.

  Args:
    logits: [B, N, H, W] mask logits.
    targets: [B, N, H, W] soft targets (anything on negative rows).
    positive: [B, N] bool.

  Returns:
    [B] loss, 0 for an image without positives.
  """
  per_mask = jnp.mean(sigmoid_bce(logits, targets), axis=(-2, -1))  # [B, N]
  total = jnp.sum(jnp.where(positive, per_mask, 0.0), axis=-1)
  num = _num_positive(positive)
  return jnp.where(num > 0, total / jnp.maximum(num, 1.0), 0.0)


def mask_dice_loss(logits: jax.Array, targets: jax.Array,
                   positive: jax.Array) -> jax.Array:
  """Per-image mean DiceLoss over the positive masks: [B, N, H, W] -> [B]."""
  per_mask = dice_loss(logits, targets)  # [B, N]
  total = jnp.sum(jnp.where(positive, per_mask, 0.0), axis=-1)
  num = _num_positive(positive)
  return jnp.where(num > 0, total / jnp.maximum(num, 1.0), 0.0)

# ---- resampling
def upsample_logits(logits: jax.Array, factor: int) -> jax.Array:
  """Bilinearly upsamples [..., h, w] logits by an integer factor (float32)."""
  logits = logits.astype(jnp.float32)
  if factor == 1:
    return logits
  h, w = logits.shape[-2:]
  shape = logits.shape[:-2] + (h * factor, w * factor)
  return jax.image.resize(logits, shape, method="bilinear", antialias=False)


def downsample_masks(masks: jax.Array, stride: int) -> jax.Array:
  """Bilinearly downsamples binary [..., H, W] masks to soft [..., H/s, W/s]."""
  masks = masks.astype(jnp.float32)
  if stride == 1:
    return masks
  h, w = masks.shape[-2:]
  if h % stride or w % stride:
    raise ValueError(
        f"GT mask size {(h, w)} is not divisible by "
        f"config.loss.mask_assign_stride={stride}.")
  # Half-pixel centres of an integer downscale fall on pixel s*i + (s-1)/2:
  # one pixel for odd s, the mean of a 2x2 block for even s. Strided slices
  # give the same numbers as jax.image.resize at a fraction of its cost
  # (a dense [H, H/s] matmul per axis).
  first = (stride - 1) // 2
  def rows(x, start):
    return x[..., start::stride, :]
  def cols(x, start):
    return x[..., start::stride]
  if stride % 2:
    return cols(rows(masks, first), first)
  half = rows(masks, first) + rows(masks, first + 1)
  return 0.25 * (cols(half, first) + cols(half, first + 1))

# ---- matching
# Numerical constants of the original cost functions (not tunable recipe knobs).
DICE_COST_CLAMP = 1e-3
DICE_COST_EPS = 1e-3
MASK_COST_CLAMP = 1e-2
FOCAL_COST_EPS = 1e-12
# Valid costs are clipped to [-COST_CLIP, COST_CLIP] (non-finite -> COST_CLIP);
# padded GT columns cost PAD_COST, far above any valid assignment's total.
COST_CLIP = 1e3
PAD_COST = 1e5


class Assignment(NamedTuple):
  """Result of matching P proposals to M padded GTs, per image."""
  pred_to_gt: jax.Array  # [B, P] int32 matched GT index, -1 = negative.
  gt_to_pred: jax.Array  # [B, M] int32 matched proposal, -1 = none/padding.


def focal_cost(cls_logits: jax.Array, gt_labels: jax.Array, *,
               alpha: float, gamma: float) -> jax.Array:
  """mmdet FocalLossCost (unweighted): [P, K] logits, [M] labels -> [P, M]."""
  p = jax.nn.sigmoid(cls_logits.astype(jnp.float32))
  neg = -jnp.log(1 - p + FOCAL_COST_EPS) * (1 - alpha) * p**gamma
  pos = -jnp.log(p + FOCAL_COST_EPS) * alpha * (1 - p)**gamma
  cost = pos - neg                                     # [P, K]
  labels = jnp.clip(gt_labels, 0, cls_logits.shape[-1] - 1)
  return jnp.take(cost, labels, axis=1)                # [P, M]


def dice_cost(mask_logits: jax.Array, gt_masks: jax.Array,
              clamp: float = DICE_COST_CLAMP) -> jax.Array:
  """DiceCost (unweighted): [P, H, W] logits, [M, H, W] soft masks -> [P, M].

  `clamp` = 0 gives knet_vis's unclamped sigmoid.
  """
  p = jnp.clip(jax.nn.sigmoid(mask_logits.astype(jnp.float32)), clamp, 1.0)
  p = p.reshape(p.shape[0], -1)
  t = gt_masks.reshape(gt_masks.shape[0], -1).astype(jnp.float32)
  num = 2 * jnp.einsum("pk,mk->pm", p, t)
  den = (jnp.sum(p * p, -1) + DICE_COST_EPS)[:, None] + (
      jnp.sum(t * t, -1) + DICE_COST_EPS)[None, :]
  return -num / den


def mask_cost(mask_logits: jax.Array, gt_masks: jax.Array,
              clamp: float = MASK_COST_CLAMP) -> jax.Array:
  """MaskCost (unweighted): minus mean agreement, [P,H,W], [M,H,W] -> [P,M]."""
  p = jnp.clip(jax.nn.sigmoid(mask_logits.astype(jnp.float32)), clamp, 1.0)
  p = p.reshape(p.shape[0], -1)
  t = gt_masks.reshape(gt_masks.shape[0], -1).astype(jnp.float32)
  agree = jnp.einsum("pk,mk->pm", p, t) + jnp.einsum("pk,mk->pm", 1 - p, 1 - t)
  return -agree / p.shape[-1]


def match_cost(mask_logits, cls_logits, gt_masks, gt_labels, gt_valid, *,
               cls_weight: float, dice_weight: float, mask_weight: float,
               alpha: float, gamma: float, clamp: bool = True) -> jax.Array:
  """Total sanitised cost of one image: [P, M]; padded columns cost PAD_COST.

  clamp=False: knet_vis's costs (sigmoid not clamped, extensions 3.4).
  """
  cost = mask_weight * mask_cost(mask_logits, gt_masks,
                                 MASK_COST_CLAMP if clamp else 0.0)
  cost += dice_weight * dice_cost(mask_logits, gt_masks,
                                  DICE_COST_CLAMP if clamp else 0.0)
  if cls_logits is not None and cls_weight != 0:
    cost += cls_weight * focal_cost(cls_logits, gt_labels, alpha=alpha,
                                    gamma=gamma)
  cost = jnp.where(jnp.isfinite(cost), jnp.clip(cost, -COST_CLIP, COST_CLIP),
                   COST_CLIP)
  return jnp.where(gt_valid[None, :], cost, PAD_COST)


def hungarian_assign(cost: jax.Array, gt_valid: jax.Array) -> Assignment:
  """Min-cost matching of one image's [P, M] cost; drops padded GT columns."""
  num_preds, num_gts = cost.shape
  rows, cols = optax.assignment.hungarian_algorithm(cost)  # min(P, M) pairs.
  keep = gt_valid[cols]
  pred_to_gt = jnp.full((num_preds,), -1, jnp.int32).at[rows].set(
      jnp.where(keep, cols, -1).astype(jnp.int32))
  gt_to_pred = jnp.full((num_gts,), -1, jnp.int32).at[cols].set(
      jnp.where(keep, rows, -1).astype(jnp.int32))
  return Assignment(pred_to_gt, gt_to_pred)


def batch_match_cost(mask_logits: jax.Array, cls_logits: Optional[jax.Array],
                     gt_masks: jax.Array, gt_labels: jax.Array,
                     gt_valid: jax.Array, *, cls_weight: float,
                     dice_weight: float, mask_weight: float, alpha: float,
                     gamma: float, clamp: bool = True) -> jax.Array:
  """Detached, sanitised costs of a batch.

  Args:
    mask_logits: [B, P, H, W] proposal mask logits at the target resolution.
    cls_logits: [B, P, K] thing-class logits, or None (no class cost: rpn and
      stage 0).
    gt_masks: [B, M, H, W] soft GT masks (padded).
    gt_labels: [B, M] int GT classes (0..K-1).
    gt_valid: [B, M] bool, False for padding rows.
    cls_weight, dice_weight, mask_weight: cost weights (config.loss.match_*).
    alpha, gamma: focal cost parameters.
    clamp: clamp the sigmoid in the mask costs (False: knet_vis).

  Returns:
    [B, P, M] cost without gradient.
  """
  if mask_logits.shape[-2:] != gt_masks.shape[-2:]:
    raise ValueError(f"matching: prediction size {mask_logits.shape[-2:]} != "
                     f"GT size {gt_masks.shape[-2:]}.")
  kw = dict(cls_weight=cls_weight, dice_weight=dice_weight,
            mask_weight=mask_weight, alpha=alpha, gamma=gamma, clamp=clamp)
  mask_logits = jax.lax.stop_gradient(mask_logits)
  if cls_logits is None:
    cost = jax.vmap(lambda m, g, l, v: match_cost(m, None, g, l, v, **kw))(
        mask_logits, gt_masks, gt_labels, gt_valid)
  else:
    cost = jax.vmap(lambda m, c, g, l, v: match_cost(m, c, g, l, v, **kw))(
        mask_logits, jax.lax.stop_gradient(cls_logits), gt_masks, gt_labels,
        gt_valid)
  return jax.lax.stop_gradient(cost)


def solve(cost: jax.Array, gt_valid: jax.Array) -> Assignment:
  """Hungarian matching of [..., P, M] costs in ONE vmapped call.

  Stacking several matchings (e.g. every stage of a frame) into one call
  compiles a single while_loop and runs them in parallel.
  gt_valid: [..., M] bool. Returns an `Assignment` with leading dims [...].
  """
  lead = cost.shape[:-2]
  flat = cost.reshape((-1,) + cost.shape[-2:])
  valid = jnp.broadcast_to(gt_valid, lead + cost.shape[-1:]).reshape(
      (-1, cost.shape[-1]))
  res = jax.vmap(hungarian_assign)(jax.lax.stop_gradient(flat), valid)
  return jax.tree.map(
      lambda x: jax.lax.stop_gradient(x.reshape(lead + x.shape[1:])), res)


def assign(mask_logits: jax.Array, cls_logits: Optional[jax.Array],
           gt_masks: jax.Array, gt_labels: jax.Array, gt_valid: jax.Array, *,
           cls_weight: float, dice_weight: float, mask_weight: float,
           alpha: float, gamma: float) -> Assignment:
  """Batched matching ([B, P, H, W] vs [B, M, H, W]; see `batch_match_cost`).

  Returns an `Assignment` ([B, P] and [B, M]) with no gradient.
  """
  cost = batch_match_cost(mask_logits, cls_logits, gt_masks, gt_labels,
                          gt_valid, cls_weight=cls_weight,
                          dice_weight=dice_weight, mask_weight=mask_weight,
                          alpha=alpha, gamma=gamma)
  return solve(cost, gt_valid)

# ---- segmentation_loss
Metrics = Dict[str, jax.Array]


class FrameTargets(NamedTuple):
  """One frame's GT at the supervision stride (soft masks)."""
  thing_masks: jax.Array   # [B, M, H2, W2] float32 in [0, 1].
  thing_labels: jax.Array  # [B, M] int32 thing class 0..num_thing-1.
  thing_valid: jax.Array   # [B, M] bool.
  stuff_masks: jax.Array   # [B, S, H2, W2] float32 in [0, 1].
  stuff_valid: jax.Array   # [B, S] bool, class present in the frame.


def prepare_targets(targets: Dict[str, Any], stride: int) -> FrameTargets:
  """Downsamples one frame's padded GT (batch sliced at t) to `stride`."""
  for key in (common.THING_MASKS, common.THING_CLASSES, common.THING_VALID,
              common.STUFF_MASKS, common.STUFF_VALID):
    if key not in targets:
      raise KeyError(f"segmentation_loss: targets lack {key!r}.")
  thing_masks = targets[common.THING_MASKS]
  if thing_masks.ndim != 4:
    raise ValueError("segmentation_loss: THING_MASKS must be [B, M, H, W] "
                     f"(one frame), got {thing_masks.shape}.")
  return FrameTargets(
      thing_masks=downsample_masks(thing_masks, stride),
      thing_labels=targets[common.THING_CLASSES].astype(jnp.int32),
      thing_valid=targets[common.THING_VALID].astype(bool),
      stuff_masks=downsample_masks(targets[common.STUFF_MASKS],
                                              stride),
      stuff_valid=targets[common.STUFF_VALID].astype(bool))


def _gather_rows(x: jax.Array, index: jax.Array) -> jax.Array:
  """x [B, M, ...], index [B, P] (-1 allowed) -> [B, P, ...] (row 0 for -1)."""
  return jax.vmap(lambda a, i: a[jnp.maximum(i, 0)])(x, index)


def _last_covering(covers: jax.Array, values: jax.Array,
                   fill: int) -> jax.Array:
  """Per pixel, `values` of the LAST row whose mask covers it, else `fill`.

  Reproduces the original's sequential `target[mask] = value` writes in row
  order. covers: [B, R, H, W] bool; values: [B, R] int -> [B, H, W].
  """
  rows = jnp.arange(covers.shape[1])[None, :, None, None]
  last = jnp.max(jnp.where(covers, rows, -1), axis=1)  # [B, H, W]
  picked = jnp.take_along_axis(values, jnp.maximum(last, 0).reshape(
      last.shape[0], -1), axis=1).reshape(last.shape)
  return jnp.where(last >= 0, picked, fill)


def rank_labels(mask_targets: jax.Array, positive: jax.Array,
                ignore_index: int) -> jax.Array:
  """Rank-loss target: index of the last positive row covering each pixel.

  mask_targets: [B, R, H, W] soft; positive: [B, R] -> [B, H, W] int32.
  """
  covers = (mask_targets > 0) & positive[:, :, None, None]
  index = jnp.broadcast_to(jnp.arange(mask_targets.shape[1], dtype=jnp.int32),
                           positive.shape)
  return _last_covering(covers, index, ignore_index)


def semantic_labels(tg: FrameTargets, matched_masks: jax.Array,
                    matched_labels: jax.Array, matched: jax.Array,
                    num_thing: int, ignore_index: int) -> jax.Array:
  """rpn seg target: stuff labels first, then matched things in proposal order.

  matched_masks: [B, P, H, W], matched_labels/matched: [B, P] -> [B, H, W].
  """
  num_stuff = tg.stuff_masks.shape[1]
  stuff_cover = (tg.stuff_masks > 0) & tg.stuff_valid[:, :, None, None]
  stuff_cls = jnp.broadcast_to(
      num_thing + jnp.arange(num_stuff, dtype=jnp.int32), tg.stuff_valid.shape)
  labels = _last_covering(stuff_cover, stuff_cls, ignore_index)
  thing_cover = (matched_masks > 0) & matched[:, :, None, None]
  thing_labels = _last_covering(thing_cover, matched_labels, -1)
  return jnp.where(thing_labels >= 0, thing_labels, labels)


def rpn_losses(mask_logits: jax.Array, seg_logits: jax.Array,
               assignment: Assignment, tg: FrameTargets,
               config) -> Metrics:
  """Weighted rpn losses on upsampled [B, P, H2, W2] / [B, C, H2, W2] logits."""
  lc = config.loss
  num_thing = config.model.num_thing_classes
  num_classes = seg_logits.shape[1]
  matched = assignment.pred_to_gt >= 0                       # [B, P]
  targets = _gather_rows(tg.thing_masks, assignment.pred_to_gt)
  labels = _gather_rows(tg.thing_labels, assignment.pred_to_gt)
  rank_ignore = -1  # any value outside 0..P-1 (the original uses 255).
  rank = rank_labels(targets, matched, rank_ignore)
  seg = semantic_labels(tg, targets, labels, matched, num_thing, num_classes)
  return {
      "rpn_loss_mask": lc.rpn_mask * jnp.mean(
          mask_bce_loss(mask_logits, targets, matched)),
      "rpn_loss_dice": lc.rpn_dice * jnp.mean(
          mask_dice_loss(mask_logits, targets, matched)),
      "rpn_loss_rank": lc.rpn_rank * mean_cross_entropy(
          mask_logits, rank, rank_ignore),
      "rpn_loss_seg": lc.rpn_seg * _semantic_loss(seg_logits, seg, lc),
  }


def _semantic_loss(seg_logits: jax.Array, labels: jax.Array, lc) -> jax.Array:
  """rpn seg loss on [B, C, H, W] logits, labels [B, H, W] (C = ignored).

  'ce' (the video recipe): mmdet softmax CE, ignored pixels in the mean.
  'focal' (the image K-Net pretraining, section 7.1): mmdet sigmoid focal,
  an ignored pixel is all-negative (mmdet's background label), mean over
  every pixel and class.
  """
  num_classes = seg_logits.shape[1]
  kind = lc.get("rpn_seg_type", "ce")
  if kind == "ce":
    return mean_cross_entropy(seg_logits, labels, num_classes)
  if kind == "focal":
    onehot = jax.nn.one_hot(labels, num_classes, axis=1)   # C -> all zero.
    return jnp.mean(sigmoid_focal_loss(
        jnp.moveaxis(seg_logits, 1, -1), jnp.moveaxis(onehot, 1, -1), 1.0,
        alpha=lc.focal_alpha, gamma=lc.focal_gamma))
  raise ValueError(f"config.loss.rpn_seg_type={kind!r}; expected 'ce' or "
                   "'focal'.")


class StageTargets(NamedTuple):
  labels: jax.Array         # [B, N] int32, C = background.
  label_weights: jax.Array  # [B, N, C] element-wise focal weights.
  mask_targets: jax.Array   # [B, N, H2, W2] soft.
  positive: jax.Array       # [B, N] bool: matched things + present stuff.


def stage_targets(assignment: Assignment, tg: FrameTargets,
                  num_thing: int) -> StageTargets:
  """Targets of one stage (original `_get_target_single`, section 4.1)."""
  num_stuff = tg.stuff_masks.shape[1]
  num_classes = num_thing + num_stuff
  batch, num_props = assignment.pred_to_gt.shape
  matched = assignment.pred_to_gt >= 0
  thing_lab = jnp.where(
      matched, _gather_rows(tg.thing_labels, assignment.pred_to_gt),
      num_classes)
  stuff_lab = jnp.where(tg.stuff_valid,
                        num_thing + jnp.arange(num_stuff, dtype=jnp.int32),
                        num_classes)
  labels = jnp.concatenate([thing_lab, stuff_lab], axis=1).astype(jnp.int32)
  # Thing rows: weight on thing columns only; stuff row j: its own column.
  thing_w = jnp.broadcast_to(
      (jnp.arange(num_classes) < num_thing).astype(jnp.float32),
      (batch, num_props, num_classes))
  stuff_w = jnp.broadcast_to(
      jnp.eye(num_stuff, num_classes, k=num_thing, dtype=jnp.float32),
      (batch, num_stuff, num_classes))
  label_weights = jnp.concatenate([thing_w, stuff_w], axis=1)
  thing_t = _gather_rows(tg.thing_masks, assignment.pred_to_gt)
  mask_targets = jnp.concatenate([thing_t, tg.stuff_masks], axis=1)
  positive = jnp.concatenate([matched, tg.stuff_valid], axis=1)
  return StageTargets(labels, label_weights, mask_targets, positive)


def stage_losses(mask_logits: jax.Array, cls_logits: jax.Array,
                 assignment: Assignment, tg: FrameTargets,
                 config) -> Metrics:
  """Unprefixed weighted losses of one stage (before stage_weights).

  mask_logits: [B, N, H2, W2] upsampled; cls_logits: [B, N, C].
  """
  lc = config.loss
  num_thing = config.model.num_thing_classes
  num_classes = cls_logits.shape[-1]
  st = stage_targets(assignment, tg, num_thing)
  onehot = jax.nn.one_hot(st.labels, num_classes)  # background -> all zero.
  focal = sigmoid_focal_loss(
      cls_logits, onehot, st.label_weights, alpha=lc.focal_alpha,
      gamma=lc.focal_gamma)
  batch = cls_logits.shape[0]
  num_pos = jnp.sum(st.positive.astype(jnp.float32))
  # avg_factor = max(1, mean #positives per image); the per-image sums are
  # averaged over the batch like DDP averages the one-image GPUs.
  avg_factor = jnp.maximum(num_pos / batch, 1.0)
  metrics = {
      "loss_cls": lc.cls * jnp.sum(focal) / batch / avg_factor,
      "pos_acc": accuracy(cls_logits, st.labels, st.positive),
      "loss_mask": lc.mask * jnp.mean(mask_bce_loss(
          mask_logits, st.mask_targets, st.positive)),
      "loss_dice": lc.dice * jnp.mean(mask_dice_loss(
          mask_logits, st.mask_targets, st.positive)),
  }
  if lc.rank > 0:  # Image K-Net recipe only; the video recipe sets 0.
    rank = rank_labels(st.mask_targets, st.positive, -1)
    metrics["loss_rank"] = lc.rank * mean_cross_entropy(
        mask_logits, rank, -1)
  return metrics


def _cost(mask_logits, cls_logits, tg: FrameTargets, config) -> jax.Array:
  lc = config.loss
  return batch_match_cost(
      mask_logits, cls_logits, tg.thing_masks, tg.thing_labels, tg.thing_valid,
      cls_weight=lc.match_cls, dice_weight=lc.match_dice,
      mask_weight=lc.match_mask, alpha=lc.focal_alpha, gamma=lc.focal_gamma)


def _check_shapes(outputs, tg: FrameTargets, config) -> None:
  m = config.model
  rpn = outputs[common.RPN_MASK_LOGITS]
  stage_masks = outputs[common.STAGE_MASK_LOGITS]
  stage_cls = outputs[common.STAGE_CLS_LOGITS]
  num_props = rpn.shape[1]
  num_stuff = tg.stuff_masks.shape[1]
  num_classes = m.num_thing_classes + m.num_stuff_classes
  if num_props != m.num_proposals:
    raise ValueError(f"segmentation_loss: {common.RPN_MASK_LOGITS} has "
                     f"{num_props} proposals, config.model.num_proposals="
                     f"{m.num_proposals}.")
  if num_stuff != m.num_stuff_classes:
    raise ValueError(f"segmentation_loss: {common.STUFF_MASKS} has {num_stuff} "
                     f"classes, config.model.num_stuff_classes="
                     f"{m.num_stuff_classes}.")
  if stage_masks.shape[2] != num_props + num_stuff:
    raise ValueError(f"segmentation_loss: {common.STAGE_MASK_LOGITS} "
                     f"{stage_masks.shape} must have N = P + num_stuff = "
                     f"{num_props + num_stuff} kernels.")
  if stage_cls.shape[-1] != num_classes or (
      outputs[common.RPN_SEG_LOGITS].shape[1] != num_classes):
    raise ValueError("segmentation_loss: class logits must have "
                     f"{num_classes} columns (things then stuff).")
  if len(config.loss.stage_weights) != stage_masks.shape[0]:
    raise ValueError(f"config.loss.stage_weights has "
                     f"{len(config.loss.stage_weights)} entries for "
                     f"{stage_masks.shape[0]} stages.")
  size = tuple(tg.thing_masks.shape[-2:])
  for name, factor, arr in (
      ("kernel_head.feat_downsample_stride",
       m.kernel_head.feat_downsample_stride, rpn),
      ("update_head.mask_upsample_stride",
       m.update_head.mask_upsample_stride, stage_masks)):
    up = tuple(factor * d for d in arr.shape[-2:])
    if up != size:
      raise ValueError(
          f"segmentation_loss: predictions {arr.shape[-2:]} x config.model."
          f"{name}={factor} give {up}, but GT at config.loss."
          f"mask_assign_stride is {size}.")


def frame_losses(outputs: Dict[str, jax.Array], targets: Dict[str, Any],
                 config) -> Tuple[jax.Array, Metrics, Assignment]:
  """Segmentation losses of one frame.

  Args:
    outputs: model outputs of the frame (keys in `common`): RPN_MASK_LOGITS
      [B, P, h, w], RPN_SEG_LOGITS [B, C, h, w], STAGE_MASK_LOGITS
      [S, B, N, h, w], STAGE_CLS_LOGITS [S, B, N, C].
    targets: the batch sliced at this frame: THING_MASKS [B, M, H, W],
      THING_CLASSES/THING_VALID [B, M], STUFF_MASKS [B, S, H, W],
      STUFF_VALID [B, S].
    config: the full config (reads `config.loss`, `config.model`).

  Returns:
    (total, metrics, track_assignment): total = sum of every `*loss*` metric;
    metrics 'rpn_loss_{mask,dice,rank,seg}', 's{i}_loss_{cls,mask,dice}',
    's{i}_pos_acc' (weighted, logged only); track_assignment matches the
    final stage's own thing masks/cls (post-assign) to the GT, for tracking.
  """
  lc = config.loss
  m = config.model
  tg = prepare_targets(targets, lc.mask_assign_stride)
  _check_shapes(outputs, tg, config)
  num_props = m.num_proposals
  num_thing = m.num_thing_classes

  rpn_masks = upsample_logits(
      outputs[common.RPN_MASK_LOGITS], m.kernel_head.feat_downsample_stride)
  rpn_seg = upsample_logits(
      outputs[common.RPN_SEG_LOGITS], m.kernel_head.feat_downsample_stride)
  stage_cls = outputs[common.STAGE_CLS_LOGITS].astype(jnp.float32)
  num_stages = stage_cls.shape[0]
  stage_masks = [
      upsample_logits(outputs[common.STAGE_MASK_LOGITS][s],
                                 m.update_head.mask_upsample_stride)
      for s in range(num_stages)]

  # All matchings of the frame in one Hungarian call: index 0 = rpn masks
  # without class cost (rpn losses AND stage 0, post_assign=False), index
  # s + 1 = stage s's own thing masks and thing-class logits (stage s + 1's
  # targets; the last one is the post-assignment used for tracking).
  costs = [_cost(rpn_masks, None, tg, config)] + [
      _cost(stage_masks[s][:, :num_props],
            stage_cls[s][:, :num_props, :num_thing], tg, config)
      for s in range(num_stages)]
  assignments = solve(jnp.stack(costs), tg.thing_valid)
  pick = lambda i: jax.tree.map(lambda x: x[i], assignments)

  metrics = rpn_losses(rpn_masks, rpn_seg, pick(0), tg, config)
  for s in range(num_stages):
    for name, value in stage_losses(stage_masks[s], stage_cls[s], pick(s),
                                    tg, config).items():
      weight = lc.stage_weights[s] if "loss" in name else 1.0
      metrics[f"s{s}_{name}"] = weight * value

  total = sum(v for k, v in metrics.items() if "loss" in k)
  return total, metrics, pick(num_stages)
