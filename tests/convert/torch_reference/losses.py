"""The original's training losses of a key + reference clip, in PyTorch.

Test-only. Written the way `lxtGH/Video-K-Net` computes them
(`knet/video/kernel_head.py`, `kernel_iter_head.py`,
`kernel_update_head.py`, `mask_hungarian_assigner.py`,
`knet_quansi_dense_embed_fc_joint_train.py`, `track_heads.py`, qdtrack
losses), so that timing it times the same work: per-image Python loops,
every proposal's mask bilinearly upsampled to stride 2, [N, H, W] mask
targets and weights allocated per image, costs on the full masks and
`scipy.optimize.linear_sum_assignment` on the host. One image per GPU with
DDP averaging is reproduced as per-image losses averaged over the batch
(what `video_loss.video_knet_loss` computes). Reference section 4.
"""
import dataclasses

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch.nn import functional as F


@dataclasses.dataclass
class LossHparams:
  """`config.loss` and the model sizes the losses need (KITTI-STEP R50)."""
  num_proposals: int = 100
  num_thing_classes: int = 2
  num_stuff_classes: int = 17
  thing_train_ids: tuple = (11, 13)
  ignore_label: int = 255
  mask_assign_stride: int = 2
  feat_downsample_stride: int = 4
  mask_upsample_stride: int = 4
  rpn_mask: float = 1.0
  rpn_dice: float = 4.0
  rpn_rank: float = 0.1
  rpn_seg: float = 1.0
  cls: float = 2.0
  mask: float = 1.0
  dice: float = 4.0
  stage_weights: tuple = (1.0, 1.0, 1.0)
  match_cls: float = 2.0
  match_dice: float = 4.0
  match_mask: float = 1.0
  focal_alpha: float = 0.25
  focal_gamma: float = 2.0
  track: float = 0.25
  track_aux: float = 1.0
  neg_margin: float = 0.1
  neg_pos_ub: int = 3

  @classmethod
  def from_config(cls, config):
    lc, m = config.loss, config.model
    return cls(
        num_proposals=m.num_proposals, num_thing_classes=m.num_thing_classes,
        num_stuff_classes=m.num_stuff_classes,
        thing_train_ids=tuple(config.data.thing_train_ids),
        ignore_label=int(config.data.get("ignore_label", 255)),
        mask_assign_stride=lc.mask_assign_stride,
        feat_downsample_stride=m.kernel_head.feat_downsample_stride,
        mask_upsample_stride=m.update_head.mask_upsample_stride,
        rpn_mask=lc.rpn_mask, rpn_dice=lc.rpn_dice, rpn_rank=lc.rpn_rank,
        rpn_seg=lc.rpn_seg, cls=lc.cls, mask=lc.mask, dice=lc.dice,
        stage_weights=tuple(lc.stage_weights), match_cls=lc.match_cls,
        match_dice=lc.match_dice, match_mask=lc.match_mask,
        focal_alpha=lc.focal_alpha, focal_gamma=lc.focal_gamma,
        track=lc.track, track_aux=lc.track_aux,
        neg_margin=lc.track_aux_neg_margin, neg_pos_ub=lc.track_aux_neg_pos_ub)

  @property
  def num_classes(self):
    return self.num_thing_classes + self.num_stuff_classes


# ------------------------------------------------------------------ targets
def frame_targets(batch, t: int, hp: LossHparams):
  """Per image of frame t: dict of thing masks at stride 2, labels, ids and
  the present stuff classes' masks (from the semantic map, `sem2ins_masks`).

  `batch` holds numpy arrays as `video_knet_jax.random_batch` makes them.
  """
  out = []
  stuff_ids = [c for c in range(hp.num_classes) if c not in hp.thing_train_ids]
  for i in range(batch["thing_masks"].shape[0]):
    valid = batch["thing_valid"][i, t].astype(bool)
    masks = torch.from_numpy(batch["thing_masks"][i, t][valid]).float()
    h, w = masks.shape[-2:] if masks.ndim == 3 else batch["semantic"].shape[-2:]
    size = (h // hp.mask_assign_stride, w // hp.mask_assign_stride)
    down = lambda m: (F.interpolate(m[None], size, mode="bilinear",
                                    align_corners=False)[0] if len(m)
                      else m.new_zeros((0,) + size))
    semantic = torch.from_numpy(batch["semantic"][i, t])
    sem_cls, sem_masks = [], []
    for label in torch.unique(semantic).tolist():       # sem2ins_masks_kitti_step
      if label == hp.ignore_label or label in hp.thing_train_ids:
        continue
      sem_cls.append(hp.num_thing_classes + stuff_ids.index(label))
      sem_masks.append(semantic == label)
    sem = torch.stack(sem_masks).float() if sem_masks else torch.zeros((0, h, w))
    out.append(dict(
        masks=down(masks),
        labels=torch.from_numpy(batch["thing_classes"][i, t][valid]).long(),
        ids=torch.from_numpy(batch["thing_ids"][i, t][valid]).long(),
        sem_cls=torch.tensor(sem_cls, dtype=torch.long),
        sem_masks=down(sem)))
  return out


# ----------------------------------------------------------------- matching
def _assign(mask_pred, cls_pred, gt_masks, gt_labels, hp: LossHparams):
  """MaskHungarianAssigner: (pos_inds, pos_gt_inds) of one image."""
  if len(gt_masks) == 0:
    return (torch.zeros(0, dtype=torch.long),) * 2
  p = mask_pred.sigmoid()
  num = len(p)
  p_dice = p.clamp(1e-3, 1).reshape(num, -1)
  p_mask = p.clamp(1e-2, 1).reshape(num, -1)
  t = gt_masks.reshape(len(gt_masks), -1)
  dice = -2 * torch.einsum("nh,mh->nm", p_dice, t) / (
      (p_dice * p_dice).sum(1)[:, None] + 1e-3 + (t * t).sum(1)[None] + 1e-3)
  agree = (torch.einsum("nh,mh->nm", p_mask, t)
           + torch.einsum("nh,mh->nm", 1 - p_mask, 1 - t))
  cost = hp.match_dice * dice - hp.match_mask * agree / t.shape[1]
  if cls_pred is not None:
    prob = cls_pred.sigmoid()
    a, g = hp.focal_alpha, hp.focal_gamma
    neg = (1 - a) * prob.pow(g) * -(1 - prob + 1e-12).log()
    pos = a * (1 - prob).pow(g) * -(prob + 1e-12).log()
    cost = cost + hp.match_cls * (pos - neg)[:, gt_labels]
  rows, cols = linear_sum_assignment(cost.detach().cpu().numpy())
  order = np.argsort(rows)
  return torch.from_numpy(rows[order]), torch.from_numpy(cols[order])


# ----------------------------------------------------------------- losses
def _dice(pred, target):
  p = pred.sigmoid().flatten(1)
  t = target.flatten(1)
  return 1 - 2 * (p * t).sum(1) / ((p * p).sum(1) + 1e-3 + (t * t).sum(1) + 1e-3)


def _focal(logits, onehot, weights, hp: LossHparams):
  """mmdet py_sigmoid_focal_loss, element-wise weights, summed."""
  p = logits.sigmoid()
  pt = (1 - p) * onehot + p * (1 - onehot)
  fw = (hp.focal_alpha * onehot + (1 - hp.focal_alpha) * (1 - onehot)) * pt.pow(
      hp.focal_gamma)
  bce = F.binary_cross_entropy_with_logits(logits, onehot, reduction="none")
  return (bce * fw * weights).sum()


def _mean_over_all(loss_map, target, ignore):
  """mmdet CrossEntropyLoss 'mean': ignored pixels count in the denominator."""
  return F.cross_entropy(loss_map, target, ignore_index=ignore,
                         reduction="none").sum() / target.numel()


def _rpn_image_losses(masks, seg, gt, hp: LossHparams):
  """ConvKernelHead.loss for one image (upsampled masks [P, H, W], seg [C, H, W])."""
  rows, cols = _assign(masks.detach(), None, gt["masks"], gt["labels"], hp)
  num, (h, w) = len(masks), masks.shape[-2:]
  mask_targets = masks.new_zeros(num, h, w)
  mask_weights = masks.new_zeros(num, h, w)                  # as the original.
  seg_targets = torch.full((h, w), hp.num_classes, dtype=torch.long)
  for sem_mask, sem_cls in zip(gt["sem_masks"].bool(), gt["sem_cls"]):
    seg_targets[sem_mask] = sem_cls
  mask_targets[rows] = gt["masks"][cols]
  mask_weights[rows] = 1
  for r, c in zip(rows.tolist(), cols.tolist()):
    seg_targets[gt["masks"][c].bool()] = gt["labels"][c]
  out = {}
  if len(rows):
    out["rpn_loss_mask"] = F.binary_cross_entropy_with_logits(
        masks[rows], mask_targets[rows])
    out["rpn_loss_dice"] = _dice(masks[rows], mask_targets[rows]).mean()
  else:
    out["rpn_loss_mask"] = out["rpn_loss_dice"] = masks.sum() * 0
  rank = torch.full((h, w), 255, dtype=torch.long)
  for r in rows.tolist():
    rank[mask_targets[r].bool()] = r
  out["rpn_loss_rank"] = _mean_over_all(masks[None], rank[None], 255)
  out["rpn_loss_seg"] = _mean_over_all(seg[None], seg_targets[None],
                                       hp.num_classes)
  return out, (rows, cols)


def _stage_image_losses(masks, cls, assigned, gt, hp: LossHparams):
  """KernelUpdateHead._get_target_single + loss for one image."""
  rows, cols = assigned
  p, nt, nc = hp.num_proposals, hp.num_thing_classes, hp.num_classes
  (h, w) = masks.shape[-2:]
  labels = torch.full((p,), nc, dtype=torch.long)
  label_weights = masks.new_ones(p, nc)
  mask_targets = masks.new_zeros(p, h, w)
  mask_weights = masks.new_zeros(p, h, w)
  labels[rows] = gt["labels"][cols]
  mask_targets[rows] = gt["masks"][cols]
  mask_weights[rows] = 1
  ns = hp.num_stuff_classes
  sem_labels = torch.full((ns,), nc, dtype=torch.long)
  sem_targets = masks.new_zeros(ns, h, w)
  sem_weights = masks.new_zeros(ns, h, w)
  sem_label_weights = torch.cat([masks.new_zeros(ns, nt), torch.eye(ns)], -1)
  if len(gt["sem_cls"]):
    inds = gt["sem_cls"] - nt
    sem_labels[inds] = gt["sem_cls"]
    sem_targets[inds] = gt["sem_masks"]
    sem_weights[inds] = 1
  label_weights[:, nt:] = 0
  labels = torch.cat([labels, sem_labels])
  label_weights = torch.cat([label_weights, sem_label_weights])
  mask_targets = torch.cat([mask_targets, sem_targets])
  pos = labels < nc
  onehot = F.one_hot(labels, nc + 1)[:, :nc].float()
  focal = _focal(cls, onehot, label_weights, hp)
  if pos.any():
    bce = F.binary_cross_entropy_with_logits(masks[pos], mask_targets[pos])
    dice = _dice(masks[pos], mask_targets[pos]).mean()
  else:
    bce = dice = masks.sum() * 0
  return focal, float(pos.sum()), bce, dice


def frame_losses(out, gts, hp: LossHparams):
  """One frame: (weighted losses averaged over images, final post-assignment)."""
  up = lambda x, f: F.interpolate(x, scale_factor=f, mode="bilinear",
                                  align_corners=False)
  rpn = up(out["rpn_mask_logits"], hp.feat_downsample_stride)
  seg = up(out["rpn_seg_logits"], hp.feat_downsample_stride)
  batch = len(gts)
  losses = {}
  assigned = []
  for i, gt in enumerate(gts):
    parts, rows_cols = _rpn_image_losses(rpn[i], seg[i], gt, hp)
    assigned.append(rows_cols)
    for k, v in parts.items():
      losses[k] = losses.get(k, 0) + v / batch
  for k, wgt in (("rpn_loss_mask", hp.rpn_mask), ("rpn_loss_dice", hp.rpn_dice),
                 ("rpn_loss_rank", hp.rpn_rank), ("rpn_loss_seg", hp.rpn_seg)):
    losses[k] = wgt * losses[k]
  prev_masks, prev_cls = rpn, None
  p, nt = hp.num_proposals, hp.num_thing_classes
  for s in range(out["stage_mask_logits"].shape[0]):
    masks = up(out["stage_mask_logits"][s], hp.mask_upsample_stride)
    cls = out["stage_cls_logits"][s]
    if s > 0:
      assigned = [_assign(prev_masks[i][:p].detach(), prev_cls[i][:p, :nt].detach(),
                          gt["masks"], gt["labels"], hp) for i, gt in enumerate(gts)]
    focal, num_pos, bce, dice = 0, 0, 0, 0
    for i, gt in enumerate(gts):
      f, n, b, d = _stage_image_losses(masks[i], cls[i], assigned[i], gt, hp)
      focal, num_pos, bce, dice = focal + f, num_pos + n, bce + b / batch, dice + d / batch
    w = hp.stage_weights[s]
    losses[f"s{s}_loss_cls"] = w * hp.cls * focal / batch / max(num_pos / batch, 1.0)
    losses[f"s{s}_loss_mask"] = w * hp.mask * bce
    losses[f"s{s}_loss_dice"] = w * hp.dice * dice
    prev_masks, prev_cls = masks, cls
  track_assigned = [_assign(prev_masks[i][:p].detach(), prev_cls[i][:p, :nt].detach(),
                            gt["masks"], gt["labels"], hp) for i, gt in enumerate(gts)]
  return losses, track_assigned


def _multi_pos_ce(dists, targets, weights):
  pos, neg = targets == 1, targets == 0
  pred_pos = dists * pos.float()
  pred_neg = dists * neg.float()
  pred_pos[neg] = pred_pos[neg] + float("inf")
  pred_neg[pos] = pred_neg[pos] + float("-inf")
  pos_expand = torch.repeat_interleave(pred_pos, dists.shape[1], dim=1)
  neg_expand = pred_neg.repeat(1, dists.shape[1])
  x = F.pad(neg_expand - pos_expand, (0, 1), "constant", 0)
  loss = torch.logsumexp(x, dim=1)
  return (loss * weights).sum() / max(float(weights.sum()), 1.0)


def _l2(cos, targets, hp: LossHparams):
  """qdtrack L2Loss with neg_margin and hard negative mining."""
  pred = cos.clone()
  neg = targets == 0
  pred[neg] = pred[neg] - hp.neg_margin
  pred = pred.clamp(0, 1)
  weight = torch.ones_like(pred)
  num_pos, num_neg = int((targets == 1).sum()), int(neg.sum())
  if num_neg / (num_pos + 1) > hp.neg_pos_ub:
    keep = num_pos * hp.neg_pos_ub
    neg_idx = torch.nonzero(neg, as_tuple=False)
    costs = ((pred - targets.float())**2)[neg_idx[:, 0], neg_idx[:, 1]].detach()
    neg_idx = neg_idx[costs.topk(keep)[1]]
    kept = torch.zeros_like(neg)
    kept[neg_idx[:, 0], neg_idx[:, 1]] = True
    weight[neg & ~kept] = 0
  count = (weight > 0).sum()
  return ((pred - targets.float())**2 * weight).sum() / max(float(count), 1e-12)


def tracking_losses(key_emb, ref_emb, key_assigned, ref_assigned, key_gts,
                    ref_gts, hp: LossHparams):
  """track_head.match + get_track_targets + loss, averaged over images."""
  track, aux = 0, 0
  for i in range(len(key_gts)):
    (k_rows, k_cols), (r_rows, r_cols) = key_assigned[i], ref_assigned[i]
    ke, re = key_emb[i][k_rows], ref_emb[i][r_rows]
    ref_ids = ref_gts[i]["ids"].tolist()
    match = torch.tensor([ref_ids.index(g) if g in ref_ids else -1
                          for g in key_gts[i]["ids"].tolist()], dtype=torch.long)
    targets = (match[k_cols].view(-1, 1) == r_cols.view(1, -1)).int()
    weights = (targets.sum(1) > 0).float()
    dists = ke @ re.t()
    cos = F.normalize(ke, dim=1) @ F.normalize(re, dim=1).t()
    if len(ke) and len(re):
      track = track + _multi_pos_ce(dists, targets, weights)
      aux = aux + _l2(cos, targets, hp)
  n = len(key_gts)
  return hp.track * track / n, hp.track_aux * aux / n


def clip_loss(key_out, ref_out, batch, hp: LossHparams):
  """(total, {name: value}) of a key (t=0) + reference (t=1) clip."""
  key_gts, ref_gts = frame_targets(batch, 0, hp), frame_targets(batch, 1, hp)
  key_losses, key_assigned = frame_losses(key_out, key_gts, hp)
  ref_losses, ref_assigned = frame_losses(ref_out, ref_gts, hp)
  losses = dict(key_losses)
  losses.update({k + "_ref": v for k, v in ref_losses.items()})
  losses["loss_track"], losses["loss_track_aux"] = tracking_losses(
      key_out["track_embeddings"], ref_out["track_embeddings"], key_assigned,
      ref_assigned, key_gts, ref_gts, hp)
  return sum(losses.values()), losses
