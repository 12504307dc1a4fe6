"""The original's per-frame test path after the network, in PyTorch / Python.

Test-only. A transliteration of `VideoKNetQuansiEmbedFCJointTrain.simple_test`
from `get_panoptic` on (`knet/video/kernel_iter_head.py`:
`merge_stuff_thing_stuff_joint`, `rescale_masks`; the detector's semantic
filter, `tensor_mask2box`, `generate_track_id_maps`, `get_semantic_seg`) and
of `QuasiDenseEmbedTracker` (qdtrack), with their Python loops over segments
and dict-based memory, so that `benchmark --mode=inference --torch_reference`
times the original's online frame. Two pieces of per-frame work of the
original whose results the panoptic path throws away are left out (the boxes
`segm2result` computes from the 100 soft thing masks, and the visualisations),
so the time measured here is a lower bound of the original's. Reference
section 5.
"""
import dataclasses

import numpy as np
import torch
from torch.nn import functional as F


@dataclasses.dataclass
class OnlineHparams:
  """`config.model` / `config.inference` / `config.tracker` numbers."""
  num_proposals: int = 100
  num_thing_classes: int = 2
  num_classes: int = 19
  thing_train_ids: tuple = (11, 13)
  mask_upsample_stride: int = 4
  max_per_img: int = 100
  instance_score_thr: float = 0.25
  overlap_thr: float = 0.6
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

  @classmethod
  def from_config(cls, config):
    m, i, t = config.model, config.inference, config.tracker
    return cls(
        num_proposals=m.num_proposals, num_thing_classes=m.num_thing_classes,
        num_classes=m.num_thing_classes + m.num_stuff_classes,
        thing_train_ids=tuple(config.data.thing_train_ids),
        mask_upsample_stride=m.update_head.mask_upsample_stride,
        max_per_img=int(i.max_per_img),
        instance_score_thr=float(i.instance_score_thr),
        overlap_thr=float(i.overlap_thr),
        init_score_thr=float(t.init_score_thr), obj_score_thr=float(t.obj_score_thr),
        match_score_thr=float(t.match_score_thr),
        memo_tracklet_frames=int(t.memo_tracklet_frames),
        memo_backdrop_frames=int(t.memo_backdrop_frames),
        memo_momentum=float(t.memo_momentum), nms_conf_thr=float(t.nms_conf_thr),
        nms_backdrop_iou_thr=float(t.nms_backdrop_iou_thr),
        nms_class_iou_thr=float(t.nms_class_iou_thr), with_cats=bool(t.with_cats))


def bbox_overlaps(a, b):
  """mmdet bbox_overlaps (iou) of [n, 4] and [m, 4] (x1, y1, x2, y2)."""
  lt = torch.max(a[:, None, :2], b[None, :, :2])
  rb = torch.min(a[:, None, 2:], b[None, :, 2:])
  wh = (rb - lt).clamp(min=0)
  inter = wh[..., 0] * wh[..., 1]
  area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
  area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
  return inter / (area_a[:, None] + area_b[None] - inter).clamp(min=1e-6)


def tensor_mask2box(masks):
  """unitrack `tensor_mask2box` with `coords2bbox_all`: (x1, y1, x2, y2)."""
  boxes = []
  for mask in masks:
    m = mask.nonzero().float()
    if m.numel() > 0:
      boxes.append((m[:, 1].min().item(), m[:, 0].min().item(),
                    m[:, 1].max().item(), m[:, 0].max().item()))
    else:
      boxes.append((-1, -1, 10, 10))
  return np.asarray(boxes, np.float32)


class QuasiDenseEmbedTracker:
  """qdtrack's tracker (bisoftmax, with_cats), dict memory; velocity dropped
  (the original updates it but never reads it)."""

  def __init__(self, hp: OnlineHparams):
    self.hp = hp
    self.num_tracklets = 0
    self.tracklets = {}
    self.backdrops = []

  def _memo(self):
    embeds, ids, labels = [], [], []
    for k, v in self.tracklets.items():
      embeds.append(v["embed"][None])
      ids.append(k)
      labels.append(v["label"].view(1))
    ids = torch.tensor(ids, dtype=torch.long)
    for backdrop in self.backdrops:
      embeds.append(backdrop["embeds"])
      ids = torch.cat([ids, torch.full((len(backdrop["embeds"]),), -1,
                                       dtype=torch.long)])
      labels.append(backdrop["labels"])
    return torch.cat(labels), torch.cat(embeds), ids

  def match(self, bboxes, labels, embeds, frame_id):
    """bboxes [n, 5] (score last) -> (kept bboxes, labels, ids; -1 new/none)."""
    hp = self.hp
    _, inds = bboxes[:, -1].sort(descending=True)
    bboxes, labels, embeds = bboxes[inds], labels[inds], embeds[inds]
    valids = torch.ones(len(bboxes), dtype=torch.bool)
    ious = bbox_overlaps(bboxes[:, :-1], bboxes[:, :-1])
    for i in range(1, len(bboxes)):
      thr = (hp.nms_backdrop_iou_thr if bboxes[i, -1] < hp.obj_score_thr
             else hp.nms_class_iou_thr)
      if (ious[i, :i] > thr).any():
        valids[i] = False
    bboxes, labels, embeds = bboxes[valids], labels[valids], embeds[valids]
    ids = torch.full((len(bboxes),), -1, dtype=torch.long)
    if len(bboxes) and self.tracklets:
      memo_labels, memo_embeds, memo_ids = self._memo()
      feats = embeds @ memo_embeds.t()
      scores = (feats.softmax(dim=1) + feats.softmax(dim=0)) / 2
      if hp.with_cats:
        scores *= (labels.view(-1, 1) == memo_labels.view(1, -1)).float()
      for i in range(len(bboxes)):
        conf, memo_ind = torch.max(scores[i], dim=0)
        mid = memo_ids[memo_ind]
        if conf > hp.match_score_thr and mid > -1:
          if bboxes[i, -1] > hp.obj_score_thr:
            ids[i] = mid
            scores[:i, memo_ind] = 0
            scores[i + 1:, memo_ind] = 0
          elif conf > hp.nms_conf_thr:
            ids[i] = -2
    new = (ids == -1) & (bboxes[:, 4] > hp.init_score_thr)
    num_new = int(new.sum())
    ids[new] = torch.arange(self.num_tracklets, self.num_tracklets + num_new)
    self.num_tracklets += num_new
    self._update(ids, bboxes, embeds, labels, frame_id)
    return bboxes, labels, ids

  def _update(self, ids, bboxes, embeds, labels, frame_id):
    hp = self.hp
    for i in torch.nonzero(ids > -1, as_tuple=False).squeeze(1).tolist():
      key = int(ids[i])
      if key in self.tracklets:
        t = self.tracklets[key]
        t["embed"] = (1 - hp.memo_momentum) * t["embed"] + hp.memo_momentum * embeds[i]
        t.update(bbox=bboxes[i], last_frame=frame_id, label=labels[i])
      else:
        self.tracklets[key] = dict(bbox=bboxes[i], embed=embeds[i], label=labels[i],
                                   last_frame=frame_id)
    backdrop = torch.nonzero(ids == -1, as_tuple=False).squeeze(1)
    ious = bbox_overlaps(bboxes[backdrop, :-1], bboxes[:, :-1])
    for i, ind in enumerate(backdrop.tolist()):
      if (ious[i, :ind] > hp.nms_backdrop_iou_thr).any():
        backdrop[i] = -1
    backdrop = backdrop[backdrop > -1]
    self.backdrops.insert(0, dict(bboxes=bboxes[backdrop], embeds=embeds[backdrop],
                                  labels=labels[backdrop]))
    for k in [k for k, v in self.tracklets.items()
              if frame_id - v["last_frame"] >= hp.memo_tracklet_frames]:
      self.tracklets.pop(k)
    if len(self.backdrops) > hp.memo_backdrop_frames:
      self.backdrops.pop()


def rescale_masks(masks, padded_hw, image_hw):
  """KernelUpdateHead.rescale_masks: sigmoid, to the padded input, crop, to the image."""
  masks = F.interpolate(masks.unsqueeze(0).sigmoid(), size=padded_hw,
                        mode="bilinear", align_corners=False)
  masks = masks[:, :, :image_hw[0], :image_hw[1]]
  return F.interpolate(masks, size=image_hw, mode="bilinear",
                       align_corners=False).squeeze(0)


def panoptic(cls_logits, mask_logits, padded_hw, image_hw, hp: OnlineHparams):
  """get_panoptic + merge_stuff_thing_stuff_joint of one frame.

  cls_logits [N, C], mask_logits [N, h, w] (last stage, stride 8).
  Returns (panoptic_seg [H0, W0] int32, segments_info, thing topk mask indices).
  """
  p, nt = hp.num_proposals, hp.num_thing_classes
  cls = cls_logits.sigmoid()
  masks = F.interpolate(mask_logits[None], scale_factor=hp.mask_upsample_stride,
                        mode="bilinear", align_corners=False)[0]
  thing_scores, topk = cls[:p, :nt].flatten(0, 1).topk(min(hp.max_per_img, p * nt),
                                                        sorted=True)
  mask_indices = topk // nt
  thing_labels = topk % nt
  thing_masks = rescale_masks(masks[:p][mask_indices], padded_hw, image_hw)
  stuff_scores, stuff_inds = torch.sort(cls[p:, nt:].diag(), descending=True)
  stuff_masks = rescale_masks(masks[p:][stuff_inds], padded_hw, image_hw)
  stuff_labels = stuff_inds + nt
  total_masks = torch.cat([thing_masks, stuff_masks])
  total_scores = torch.cat([thing_scores, stuff_scores])
  total_labels = torch.cat([thing_labels, stuff_labels])
  panoptic_seg = torch.zeros(image_hw, dtype=torch.int32)
  ids = (total_scores.view(-1, 1, 1) * total_masks).argmax(0)
  segments_info = []
  segment_id = 0
  for k in torch.argsort(-total_scores).tolist():
    pred_class = int(total_labels[k])
    isthing = pred_class < nt
    if isthing and total_scores[k] < hp.instance_score_thr:
      continue
    mask = ids == k
    area = int(mask.sum())
    original_area = int((total_masks[k] >= 0.5).sum())
    if area > 0 and original_area > 0:
      if area / original_area < hp.overlap_thr:
        continue
      segment_id += 1
      panoptic_seg[mask] = segment_id
      if isthing:
        segments_info.append(dict(id=segment_id, isthing=True, score=float(total_scores[k]),
                                  category_id=pred_class, instance_id=k))
      else:
        segments_info.append(dict(id=segment_id, isthing=False,
                                  category_id=pred_class - nt + 1, area=area))
  return panoptic_seg.numpy(), segments_info, mask_indices


def semantic_map(panoptic_seg, segments_info, hp: OnlineHparams):
  """get_semantic_seg (KITTI-STEP): trainId per segment, 0 elsewhere."""
  out = np.zeros(panoptic_seg.shape)
  stuff_ids = [c for c in range(hp.num_classes) if c not in hp.thing_train_ids]
  for s in segments_info:
    cat = (hp.thing_train_ids[s["category_id"]] if s["isthing"]
           else stuff_ids[s["category_id"] - 1])
    out[panoptic_seg == s["id"]] = cat
  return out


class OnlineFrames:
  """Frame-by-frame state of the original's test loop (tracker, kernel memory)."""

  def __init__(self, hp: OnlineHparams):
    self.hp = hp
    self.tracker = QuasiDenseEmbedTracker(hp)

  def postprocess(self, out, padded_hw, image_hw, frame_id):
    """Everything after the network for one frame of batch 1.

    out: the torch reference model's dict. Returns (semantic map, track-id
    map, segments_info, track ids of the thing segments).
    """
    hp = self.hp
    pan, segments, mask_indices = panoptic(out["cls_logits"][0], out["mask_logits"][0],
                                           padded_hw, image_hw, hp)
    things = [s for s in segments if s["isthing"]]
    seg = F.interpolate(out["rpn_seg_logits"], size=pan.shape, mode="bilinear",
                        align_corners=False).sigmoid()
    semantic_thing = (seg.argmax(1)[0] < hp.num_thing_classes).float()
    ids = []
    masks = None
    if things:
      masks = torch.stack([torch.from_numpy(pan == s["id"]).float() for s in things])
      bboxes = torch.zeros((len(things), 5))
      bboxes[:, 4] = torch.tensor([s["score"] for s in things])
      bboxes[:, :4] = torch.from_numpy(tensor_mask2box(masks * semantic_thing))
      labels = torch.tensor([s["category_id"] for s in things], dtype=torch.long)
      rows = mask_indices[torch.tensor([s["instance_id"] for s in things])]
      embeds = out["track_embeddings"][0][rows]
      _, _, ids = self.tracker.match(bboxes, labels, embeds, frame_id)
      ids = ids + 1
      ids[ids == -1] = 0
    track_map = np.zeros(pan.shape)
    for i, track_id in enumerate(list(ids)):
      track_map[masks[i].bool().numpy()] = int(track_id)
    return semantic_map(pan, segments, hp), track_map, segments, ids
