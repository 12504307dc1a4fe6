"""KNetTrack losses: per-frame K-Net losses plus the clip-level video matching.

Extensions section 3.4. Targets of a batch of clips (static shapes, padded):
  masks    [B, T, M, H, W] binary instance masks at the input size,
  present  [B, T, M] bool: instance m is on frame t,
  labels   [B, M] int class (0..C-1), valid [B, M] bool (False = padding).
Per-frame part (rpn + roi_head stages): each of the B*T frames is matched
on its own (instances absent from the frame are invalid there), as K-Net.
Clip part (tracker stages): each instance's tube (T, h, w) - its mask on
frames where it appears, zeros elsewhere - is matched to the predicted tubes
with the frames stacked along height (MaskHungarianAssignerVideo); stage 2
reuses stage 1's assignment. All mask costs use the unclamped sigmoid.
"""
from typing import Any, Dict, NamedTuple, Tuple

import jax
import jax.numpy as jnp

from video_knet_jax import common
from video_knet_jax.losses import class_losses
from video_knet_jax.losses import mask_losses
from video_knet_jax.losses import matching
from video_knet_jax.losses import resampling
from video_knet_jax.losses import segmentation_loss as seg_loss
from video_knet_jax.models import knet_track

Metrics = Dict[str, jax.Array]

# Batch keys of a clip's instances (shapes in common.py).
MASKS = common.TUBE_MASKS
PRESENT = common.TUBE_PRESENT
LABELS = common.TUBE_LABELS
VALID = common.TUBE_VALID


class ClipTargets(NamedTuple):
  """A batch of clips' GT at the supervision stride."""
  frames: seg_loss.FrameTargets   # B*T frames: [B*T, M, h, w] ...
  tubes: jax.Array                # [B, M, T*h, w] frames stacked on height.
  labels: jax.Array               # [B, M] int32.
  valid: jax.Array                # [B, M] bool.


def prepare_targets(targets: Dict[str, Any], stride: int) -> ClipTargets:
  for key in (MASKS, PRESENT, LABELS, VALID):
    if key not in targets:
      raise KeyError(f"clip_loss: targets lack {key!r}.")
  masks = targets[MASKS]
  if masks.ndim != 5:
    raise ValueError(f"clip_loss: {MASKS!r} must be [B, T, M, H, W], got "
                     f"{masks.shape}.")
  b, t, m = masks.shape[:3]
  present = targets[PRESENT].astype(bool)
  valid = targets[VALID].astype(bool)
  labels = targets[LABELS].astype(jnp.int32)
  soft = resampling.downsample_masks(masks, stride)            # [B, T, M, h, w]
  soft = soft * (present & valid[:, None])[..., None, None]
  h, w = soft.shape[-2:]
  frames = seg_loss.FrameTargets(
      thing_masks=soft.reshape(b * t, m, h, w),
      thing_labels=jnp.repeat(labels, t, axis=0),
      thing_valid=(present & valid[:, None]).reshape(b * t, m),
      stuff_masks=jnp.zeros((b * t, 0, h, w), jnp.float32),
      stuff_valid=jnp.zeros((b * t, 0), bool))
  tubes = soft.transpose(0, 2, 1, 3, 4).reshape(b, m, t * h, w)
  return ClipTargets(frames, tubes, labels, valid)


def to_tubes(frame_logits: jax.Array, num_frames: int) -> jax.Array:
  """[B*T, N, h, w] per-frame logits -> [B, N, T*h, w] (frames on height)."""
  bt, n, h, w = frame_logits.shape
  x = frame_logits.reshape(bt // num_frames, num_frames, n, h, w)
  return x.transpose(0, 2, 1, 3, 4).reshape(-1, n, num_frames * h, w)


def _cost(mask_logits, cls_logits, gt_masks, gt_labels, gt_valid, lc):
  return matching.batch_match_cost(
      mask_logits, cls_logits, gt_masks, gt_labels, gt_valid,
      cls_weight=lc.match_cls, dice_weight=lc.match_dice,
      mask_weight=lc.match_mask, alpha=lc.focal_alpha, gamma=lc.focal_gamma,
      clamp=False)


def clip_assign(tube_logits: jax.Array, cls_logits, tg: ClipTargets,
                lc) -> matching.Assignment:
  """Video Hungarian assignment: [B, N, T*h, w] tubes (+ [B, N, C]) to GT."""
  cost = _cost(tube_logits, cls_logits, tg.tubes, tg.labels, tg.valid, lc)
  return matching.solve(cost, tg.valid)


def _pooled_mask_losses(logits, targets, positive):
  """BCE and Dice averaged over the positives of the whole batch."""
  flat = lambda x: x.reshape(1, -1, *x.shape[2:])
  pos = positive.reshape(1, -1)
  return (mask_losses.mask_bce_loss(flat(logits), flat(targets), pos)[0],
          mask_losses.mask_dice_loss(flat(logits), flat(targets), pos)[0])


def _class_loss(cls_logits, labels, positive, lc):
  """Focal over every class column, summed / max(1, #positives)."""
  num_classes = cls_logits.shape[-1]
  focal = class_losses.sigmoid_focal_loss(
      cls_logits, jax.nn.one_hot(labels, num_classes), 1.0,
      alpha=lc.focal_alpha, gamma=lc.focal_gamma)
  num_pos = jnp.sum(positive.astype(jnp.float32))
  return jnp.sum(focal) / jnp.maximum(num_pos, 1.0)


def _matched(assignment, gt_masks, gt_labels, num_classes):
  rows = assignment.pred_to_gt
  positive = rows >= 0
  targets = jax.vmap(lambda a, i: a[jnp.maximum(i, 0)])(gt_masks, rows)
  labels = jnp.where(positive, jax.vmap(lambda a, i: a[jnp.maximum(i, 0)])(
      gt_labels, rows), num_classes)
  return targets, labels.astype(jnp.int32), positive


def _stage_losses(mask_logits, cls_logits, assignment, gt_masks, gt_labels,
                  lc, num_classes) -> Metrics:
  targets, labels, positive = _matched(assignment, gt_masks, gt_labels,
                                       num_classes)
  bce, dice = _pooled_mask_losses(mask_logits, targets, positive)
  out = {"loss_mask": lc.mask * bce, "loss_dice": lc.dice * dice}
  if cls_logits is not None:
    out["loss_cls"] = lc.cls * _class_loss(cls_logits, labels, positive, lc)
    out["pos_acc"] = class_losses.accuracy(cls_logits, labels, positive)
  return out


def _rpn_losses(mask_logits, seg_logits, assignment, tg: seg_loss.FrameTargets,
                lc, num_classes) -> Metrics:
  targets, labels, matched = _matched(assignment, tg.thing_masks,
                                      tg.thing_labels, num_classes)
  bce, dice = _pooled_mask_losses(mask_logits, targets, matched)
  # Seg target: the label of matched GT masks (later proposals win), else
  # background; sigmoid focal over the C channels / #labelled pixels.
  covers = (targets > 0) & matched[:, :, None, None]
  seg = seg_loss._last_covering(covers, labels, num_classes)     # [B*T, h, w]  pylint: disable=protected-access
  onehot = jax.nn.one_hot(seg, num_classes, axis=1)              # [B*T, C, h, w]
  focal = class_losses.sigmoid_focal_loss(
      jnp.moveaxis(seg_logits, 1, -1), jnp.moveaxis(onehot, 1, -1), 1.0,
      alpha=lc.focal_alpha, gamma=lc.focal_gamma)
  num_dense = jnp.sum((seg < num_classes).astype(jnp.float32))
  return {"rpn_loss_mask": lc.rpn_mask * bce, "rpn_loss_dice": lc.rpn_dice * dice,
          "rpn_loss_seg": lc.rpn_seg * jnp.sum(focal) / jnp.maximum(num_dense, 1.0)}


def knet_track_loss(outputs: Dict[str, jax.Array], targets: Dict[str, Any],
                    config) -> Tuple[jax.Array, Metrics]:
  """Total loss and metrics of a batch of clips (outputs of `KNetTrack`).

  Returns (total, metrics): 'rpn_loss_*', 's{k}_loss_*' (per-frame stages),
  'tracker_s{k}_loss_*' (clip stages), '*pos_acc' logged only; total = sum
  of every '*loss*' metric, stage weights applied.
  """
  lc, m = config.loss, config.model
  num_classes = m.num_thing_classes
  tg = prepare_targets(targets, lc.mask_assign_stride)
  t = targets[MASKS].shape[1]
  up_rpn = m.kernel_head.feat_downsample_stride
  up = m.update_head.mask_upsample_stride
  rpn_masks = resampling.upsample_logits(outputs[knet_track.RPN_MASK_LOGITS], up_rpn)
  rpn_seg = resampling.upsample_logits(outputs[knet_track.RPN_SEG_LOGITS], up_rpn)
  if rpn_masks.shape[-2:] != tg.frames.thing_masks.shape[-2:]:
    raise ValueError(f"clip_loss: rpn masks {rpn_masks.shape[-2:]} vs GT "
                     f"{tg.frames.thing_masks.shape[-2:]} at config.loss."
                     f"mask_assign_stride={lc.mask_assign_stride}.")
  frame_cls = outputs[knet_track.FRAME_CLS_LOGITS]
  num_stages = frame_cls.shape[0]
  frame_masks = [resampling.upsample_logits(
      outputs[knet_track.FRAME_MASK_LOGITS][s], up) for s in range(num_stages)]
  f = tg.frames
  # Per frame: rpn (no class cost) assigns rpn + stage 0; stage s assigns s+1.
  costs = [_cost(rpn_masks, None, f.thing_masks, f.thing_labels,
                 f.thing_valid, lc)] + [
      _cost(frame_masks[s], frame_cls[s], f.thing_masks, f.thing_labels,
            f.thing_valid, lc) for s in range(num_stages - 1)]
  frame_assign = matching.solve(jnp.stack(costs), f.thing_valid)
  pick = lambda a, i: jax.tree.map(lambda x: x[i], a)
  metrics = _rpn_losses(rpn_masks, rpn_seg, pick(frame_assign, 0), f, lc,
                        num_classes)
  for s in range(num_stages):
    for name, value in _stage_losses(
        frame_masks[s], frame_cls[s], pick(frame_assign, s), f.thing_masks,
        f.thing_labels, lc, num_classes).items():
      metrics[f"s{s}_{name}"] = (lc.stage_weights[s] if "loss" in name
                                 else 1.0) * value

  clip_cls = outputs[knet_track.CLIP_CLS_LOGITS]
  clip_masks = outputs[knet_track.CLIP_MASK_LOGITS]
  tubes = [to_tubes(resampling.upsample_logits(clip_masks[s], up), t)
           for s in range(clip_masks.shape[0])]
  # Clip stages with classes assign with their own predictions (post-assign);
  # the last (no classes) reuses the previous stage's assignment.
  clip_assign_all = matching.solve(jnp.stack([
      _cost(tubes[s], clip_cls[s], tg.tubes, tg.labels, tg.valid, lc)
      for s in range(clip_cls.shape[0])]), tg.valid)
  for s in range(len(tubes)):
    a = pick(clip_assign_all, min(s, clip_cls.shape[0] - 1))
    cls = clip_cls[s] if s < clip_cls.shape[0] else None
    for name, value in _stage_losses(tubes[s], cls, a, tg.tubes, tg.labels,
                                     lc, num_classes).items():
      metrics[f"tracker_s{s}_{name}"] = (
          lc.tracker_stage_weights[s] if "loss" in name else 1.0) * value
  total = sum(v for k, v in metrics.items() if "loss" in k)
  return total, metrics
