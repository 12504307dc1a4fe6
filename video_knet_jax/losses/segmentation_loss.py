"""Per-frame segmentation losses of Video K-Net (reference section 4.1).

`frame_losses` takes one frame's model outputs and the batch sliced at that
frame and returns the weighted rpn and per-stage losses. Reductions follow the
original with one image per GPU: per-image means then a batch mean; the focal
loss divides by avg_factor = max(1, mean #positives per image).
"""
from typing import Any, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp

from video_knet_jax import common
from video_knet_jax.losses import class_losses
from video_knet_jax.losses import mask_losses
from video_knet_jax.losses import matching
from video_knet_jax.losses import resampling

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
      thing_masks=resampling.downsample_masks(thing_masks, stride),
      thing_labels=targets[common.THING_CLASSES].astype(jnp.int32),
      thing_valid=targets[common.THING_VALID].astype(bool),
      stuff_masks=resampling.downsample_masks(targets[common.STUFF_MASKS],
                                              stride),
      stuff_valid=targets[common.STUFF_VALID].astype(bool))


def _gather_rows(x: jax.Array, index: jax.Array) -> jax.Array:
  """x [B, M, ...], index [B, P] (-1 allowed) -> [B, P, ...] (row 0 for -1)."""
  return jax.vmap(lambda a, i: a[jnp.maximum(i, 0)])(x, index)


def _last_covering(covers: jax.Array, values: jax.Array, fill: int,
                   order: Optional[jax.Array] = None) -> jax.Array:
  """Per pixel, `values` of the LAST row whose mask covers it, else `fill`.

  Reproduces the original's sequential `target[mask] = value` writes in row
  order. covers: [B, R, H, W] bool; values: [B, R] int -> [B, H, W]. `order`
  [B, R] (distinct ints >= 0) replaces the row index as the write order:
  rows given as GT masks with the proposal each is matched to (gathering the
  masks into proposal order would copy them).
  """
  num_rows = covers.shape[1]
  rows = jnp.arange(num_rows, dtype=jnp.int32)
  if order is None:
    key = rows[None, :, None, None]
  else:  # order * R + row: the largest key is the last write, key % R its row.
    key = (order.astype(jnp.int32) * num_rows + rows)[:, :, None, None]
  # initial=-1: R = 0 rows (no stuff classes, COCO instances) covers nothing.
  last = jnp.max(jnp.where(covers, key, -1), axis=1, initial=-1)  # [B, H, W]
  if num_rows == 0:
    return jnp.full(last.shape, fill, values.dtype)
  picked = jnp.take_along_axis(values, (jnp.maximum(last, 0) % num_rows).reshape(
      last.shape[0], -1), axis=1).reshape(last.shape)
  return jnp.where(last >= 0, picked, fill)


def rank_labels(mask_targets: jax.Array, positive: jax.Array,
                ignore_index: int, order: Optional[jax.Array] = None
                ) -> jax.Array:
  """Rank-loss target: index of the last positive row covering each pixel.

  mask_targets: [B, R, H, W] soft; positive: [B, R] -> [B, H, W] int32.
  With `order` [B, R] (the proposal index of each row, e.g. GT masks and
  the proposals they are matched to) the label is the largest covering
  `order`, i.e. the proposal index.
  """
  covers = (mask_targets > 0) & positive[:, :, None, None]
  if order is None:
    index = jnp.broadcast_to(
        jnp.arange(mask_targets.shape[1], dtype=jnp.int32), positive.shape)
    return _last_covering(covers, index, ignore_index)
  order = jnp.maximum(order, 0).astype(jnp.int32)
  return _last_covering(covers, order, ignore_index, order=order)


def semantic_labels(tg: FrameTargets, matched_masks: jax.Array,
                    matched_labels: jax.Array, matched: jax.Array,
                    num_thing: int, ignore_index: int,
                    order: Optional[jax.Array] = None) -> jax.Array:
  """rpn seg target: stuff labels first, then matched things in proposal order.

  matched_masks: [B, R, H, W], matched_labels/matched: [B, R] -> [B, H, W];
  rows in proposal order, or any order with `order` [B, R] their proposal
  index (e.g. the GT masks and `gt_to_pred`).
  """
  num_stuff = tg.stuff_masks.shape[1]
  stuff_cover = (tg.stuff_masks > 0) & tg.stuff_valid[:, :, None, None]
  stuff_cls = jnp.broadcast_to(
      num_thing + jnp.arange(num_stuff, dtype=jnp.int32), tg.stuff_valid.shape)
  labels = _last_covering(stuff_cover, stuff_cls, ignore_index)
  thing_cover = (matched_masks > 0) & matched[:, :, None, None]
  if order is not None:
    order = jnp.maximum(order, 0)
  thing_labels = _last_covering(thing_cover, matched_labels, -1, order=order)
  return jnp.where(thing_labels >= 0, thing_labels, labels)


def _matched_mask_losses(low_logits: jax.Array, factor: int,
                         gt_to_pred: jax.Array, gt_masks: jax.Array):
  """(BCE, dice) [B, M] of the proposals matched to each GT mask.

  low_logits: [B, R, h, w] before upsampling; gt_to_pred: [B, M] (-1: GT
  unmatched, its entries are garbage for the caller to mask); gt_masks:
  [B, M, H, W]. Only the matched rows are upsampled (at most M of the R
  proposals are positive), and the targets stay in GT order: nothing of size
  [R, H, W] is built for the losses.
  """
  rows = resampling.upsample_logits(_gather_rows(low_logits, gt_to_pred),
                                    factor)                    # [B, M, H, W]
  return mask_losses.bce_and_dice(rows, gt_masks)


def rpn_losses(mask_logits: jax.Array, low_logits: jax.Array,
               seg_logits: jax.Array, assignment: matching.Assignment,
               tg: FrameTargets, config) -> Metrics:
  """Weighted rpn losses.

  mask_logits: [B, P, H2, W2] upsampled (the rank loss's softmax runs over
  all proposals); low_logits: the same before upsampling; seg_logits:
  [B, C, H2, W2] upsampled.
  """
  lc = config.loss
  num_thing = config.model.num_thing_classes
  num_classes = seg_logits.shape[1]
  gt_to_pred = assignment.gt_to_pred                          # [B, M]
  matched = gt_to_pred >= 0
  bce, dice = _matched_mask_losses(
      low_logits, config.model.kernel_head.feat_downsample_stride, gt_to_pred,
      tg.thing_masks)
  rank_ignore = -1  # any value outside 0..P-1 (the original uses 255).
  rank = rank_labels(tg.thing_masks, matched, rank_ignore, order=gt_to_pred)
  seg = semantic_labels(tg, tg.thing_masks, tg.thing_labels, matched,
                        num_thing, num_classes, order=gt_to_pred)
  return {
      "rpn_loss_mask": lc.rpn_mask * jnp.mean(
          mask_losses.positive_mean(bce, matched)),
      "rpn_loss_dice": lc.rpn_dice * jnp.mean(
          mask_losses.positive_mean(dice, matched)),
      "rpn_loss_rank": lc.rpn_rank * class_losses.mean_cross_entropy(
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
    return class_losses.mean_cross_entropy(seg_logits, labels, num_classes)
  if kind == "focal":
    onehot = jax.nn.one_hot(labels, num_classes, axis=1)   # C -> all zero.
    return jnp.mean(class_losses.sigmoid_focal_loss(
        jnp.moveaxis(seg_logits, 1, -1), jnp.moveaxis(onehot, 1, -1), 1.0,
        alpha=lc.focal_alpha, gamma=lc.focal_gamma))
  raise ValueError(f"config.loss.rpn_seg_type={kind!r}; expected 'ce' or "
                   "'focal'.")


class StageTargets(NamedTuple):
  labels: jax.Array         # [B, N] int32, C = background.
  label_weights: jax.Array  # [B, N, C] element-wise focal weights.
  mask_targets: jax.Array   # [B, N, H2, W2] soft.
  positive: jax.Array       # [B, N] bool: matched things + present stuff.


def stage_targets(assignment: matching.Assignment, tg: FrameTargets,
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


def stage_losses(low_logits: jax.Array, cls_logits: jax.Array,
                 assignment: matching.Assignment, tg: FrameTargets,
                 config) -> Metrics:
  """Unprefixed weighted losses of one stage (before stage_weights).

  low_logits: [B, N, h, w] mask logits before upsampling (N = P thing
  kernels then the stuff kernels); cls_logits: [B, N, C].
  """
  lc = config.loss
  m = config.model
  num_thing = m.num_thing_classes
  num_props = m.num_proposals
  factor = m.update_head.mask_upsample_stride
  num_classes = cls_logits.shape[-1]
  st = stage_targets(assignment, tg, num_thing)
  onehot = jax.nn.one_hot(st.labels, num_classes)  # background -> all zero.
  focal = class_losses.sigmoid_focal_loss(
      cls_logits, onehot, st.label_weights, alpha=lc.focal_alpha,
      gamma=lc.focal_gamma)
  batch = cls_logits.shape[0]
  num_pos = jnp.sum(st.positive.astype(jnp.float32))
  # avg_factor = max(1, mean #positives per image); the per-image sums are
  # averaged over the batch like DDP averages the one-image GPUs.
  avg_factor = jnp.maximum(num_pos / batch, 1.0)
  # Mask losses of the positives only: matched thing proposals (in GT order)
  # and the present stuff kernels, each against its own target.
  thing_bce, thing_dice = _matched_mask_losses(
      low_logits[:, :num_props], factor, assignment.gt_to_pred,
      tg.thing_masks)
  stuff_bce, stuff_dice = mask_losses.bce_and_dice(
      resampling.upsample_logits(low_logits[:, num_props:], factor),
      tg.stuff_masks)
  positive = jnp.concatenate([assignment.gt_to_pred >= 0, tg.stuff_valid], 1)
  per_image = lambda thing, stuff: mask_losses.positive_mean(
      jnp.concatenate([thing, stuff], axis=1), positive)
  metrics = {
      "loss_cls": lc.cls * jnp.sum(focal) / batch / avg_factor,
      "pos_acc": class_losses.accuracy(cls_logits, st.labels, st.positive),
      "loss_mask": lc.mask * jnp.mean(per_image(thing_bce, stuff_bce)),
      "loss_dice": lc.dice * jnp.mean(per_image(thing_dice, stuff_dice)),
  }
  if lc.rank > 0:  # Image K-Net recipe only; the video recipe sets 0.
    rank = rank_labels(st.mask_targets, st.positive, -1)
    metrics["loss_rank"] = lc.rank * class_losses.mean_cross_entropy(
        resampling.upsample_logits(low_logits, factor), rank, -1)
  return metrics


def _cost(low_logits, factor: int, cls_logits, tg: FrameTargets,
          config) -> jax.Array:
  """[B, P, M] matching cost of [B, P, h, w] mask logits upsampled by factor."""
  lc = config.loss
  return matching.batch_match_cost(
      low_logits, cls_logits, tg.thing_masks, tg.thing_labels, tg.thing_valid,
      cls_weight=lc.match_cls, dice_weight=lc.match_dice,
      mask_weight=lc.match_mask, alpha=lc.focal_alpha, gamma=lc.focal_gamma,
      upsample_factor=factor)


def frame_costs(outputs: Dict[str, jax.Array], tg: FrameTargets,
                config) -> jax.Array:
  """[S + 1, B, P, M] matching costs of one frame (see `frame_losses`)."""
  m = config.model
  num_props, num_thing = m.num_proposals, m.num_thing_classes
  stage_low = outputs[common.STAGE_MASK_LOGITS]
  stage_cls = outputs[common.STAGE_CLS_LOGITS].astype(jnp.float32)
  return jnp.stack([_cost(outputs[common.RPN_MASK_LOGITS],
                          m.kernel_head.feat_downsample_stride, None, tg,
                          config)] + [
      _cost(stage_low[s][:, :num_props], m.update_head.mask_upsample_stride,
            stage_cls[s][:, :num_props, :num_thing], tg, config)
      for s in range(stage_cls.shape[0])])


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
                 config) -> Tuple[jax.Array, Metrics, matching.Assignment]:
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

  rpn_low = outputs[common.RPN_MASK_LOGITS]
  rpn_masks = resampling.upsample_logits(
      rpn_low, m.kernel_head.feat_downsample_stride)
  rpn_seg = resampling.upsample_logits(
      outputs[common.RPN_SEG_LOGITS], m.kernel_head.feat_downsample_stride)
  stage_low = outputs[common.STAGE_MASK_LOGITS]
  stage_cls = outputs[common.STAGE_CLS_LOGITS].astype(jnp.float32)
  num_stages = stage_cls.shape[0]

  # All matchings of the frame in one Hungarian call: index 0 = rpn masks
  # without class cost (rpn losses AND stage 0, post_assign=False), index
  # s + 1 = stage s's own thing masks and thing-class logits (stage s + 1's
  # targets; the last one is the post-assignment used for tracking). The
  # costs read every thing proposal at full size (upsampled band by band);
  # the losses after the assignment only the matched ones.
  costs = frame_costs(outputs, tg, config)
  assignments = matching.solve(costs, tg.thing_valid)
  pick = lambda i: jax.tree.map(lambda x: x[i], assignments)

  metrics = rpn_losses(rpn_masks, rpn_low, rpn_seg, pick(0), tg, config)
  for s in range(num_stages):
    for name, value in stage_losses(stage_low[s], stage_cls[s], pick(s),
                                    tg, config).items():
      weight = lc.stage_weights[s] if "loss" in name else 1.0
      metrics[f"s{s}_{name}"] = weight * value

  total = sum(v for k, v in metrics.items() if "loss" in k)
  return total, metrics, pick(num_stages)


def track_assignment(outputs: Dict[str, jax.Array], targets: Dict[str, Any],
                     config) -> matching.Assignment:
  """The third result of `frame_losses` alone (no losses): the final stage's
  own thing masks / classes matched to the frame's GT, for tracking. Used on a
  reference frame without segmentation losses (config.loss.key_frame_only)."""
  m = config.model
  tg = prepare_targets(targets, config.loss.mask_assign_stride)
  _check_shapes(outputs, tg, config)
  last_low = outputs[common.STAGE_MASK_LOGITS][-1]
  last_cls = outputs[common.STAGE_CLS_LOGITS][-1].astype(jnp.float32)
  cost = _cost(last_low[:, :m.num_proposals], m.update_head.mask_upsample_stride,
               last_cls[:, :m.num_proposals, :m.num_thing_classes], tg, config)
  return matching.solve(cost, tg.thing_valid)
