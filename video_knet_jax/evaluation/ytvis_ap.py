"""YouTube-VIS AP / AR with the semantics of youtubevos/cocoapi `YTVOSeval`.

(metrics_and_datasets.md 2.7.) The unit is (video, category). The IoU of a
detection and a gt instance is the spatio-temporal mask IoU
sum_t |d_t & g_t| / sum_t |d_t | g_t| (frames where only one exists add its
area to the union; union 0 -> IoU 0). Area of an instance = mean of its
non-empty per-frame areas; area ranges all/small/medium/large =
[0, 1e10], [0, 128^2], [128^2, 256^2], [256^2, 1e10] (inclusive). Per
(video, category) the top-100 detections by score (stable sort) are greedily
matched for IoU thresholds 0.50:0.05:0.95 exactly as COCOeval (crowd gt are
ignored and may match repeatedly; ties go to the later gt); precision is
interpolated at 101 recall points; -1 marks categories without gt. pycocotools
is used only for RLE decoding, merging and areas.

`stats` order: AP, AP50, AP75, AP_s, AP_m, AP_l, AR1, AR10, AR100, AR_s, AR_m,
AR_l (all in [0, 1]; -1 where undefined, as in the reference).
"""
from __future__ import annotations

import collections
import numbers
from typing import List, Sequence

import numpy as np
from pycocotools import mask as mask_utils

IOU_THRS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
REC_THRS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
MAX_DETS = (1, 10, 100)
AREA_RNG = ((0 ** 2, 1e5 ** 2), (0 ** 2, 128 ** 2), (128 ** 2, 256 ** 2), (256 ** 2, 1e5 ** 2))
AREA_LBL = ("all", "small", "medium", "large")
STAT_NAMES = ("AP", "AP50", "AP75", "AP_s", "AP_m", "AP_l",
              "AR1", "AR10", "AR100", "AR_s", "AR_m", "AR_l")


def _to_rle(segm, h: int, w: int, where: str):
  """Polygon / uncompressed RLE / compressed RLE / None -> RLE or falsy."""
  if not segm:
    return segm
  if isinstance(segm, list):  # polygons
    return mask_utils.merge(mask_utils.frPyObjects(segm, h, w))
  if isinstance(segm, dict) and "counts" in segm and "size" in segm:
    if list(segm["size"]) != [h, w]:
      raise ValueError(f"{where}: mask size {segm['size']} != video size {[h, w]}")
    if isinstance(segm["counts"], list):
      return mask_utils.frPyObjects(segm, h, w)
    counts = segm["counts"]
    return {"size": [h, w], "counts": counts.encode() if isinstance(counts, str) else counts}
  raise ValueError(f"{where}: unsupported segmentation {type(segm).__name__}")


def _avg_area(areas) -> float:
  l = [a for a in areas if a]
  return float(np.array(l).mean()) if l else 0.0


def _iou_seq(d_seq, g_seq) -> float:
  i = u = 0.0
  for d, g in zip(d_seq, g_seq):
    if d and g:
      i += float(mask_utils.area(mask_utils.merge([d, g], True)))
      u += float(mask_utils.area(mask_utils.merge([d, g], False)))
    elif g:
      u += float(mask_utils.area(g))
    elif d:
      u += float(mask_utils.area(d))
  return i / u if u > 0 else 0.0


class YouTubeVISEval:
  """Scores a results list against a YouTube-VIS annotation dict."""

  def __init__(self, annotations: dict, name: str = "annotations"):
    try:
      self.videos = {int(v["id"]): v for v in annotations["videos"]}
      self.cat_ids = sorted(int(c["id"]) for c in annotations["categories"])
      anns = annotations["annotations"]
    except (KeyError, TypeError, ValueError) as e:
      raise ValueError(f"{name}: malformed YouTube-VIS annotation JSON ({e!r})") from e
    self.name = name
    self._gts = collections.defaultdict(list)
    for k, a in enumerate(anns):
      where = f"{name}: annotation #{k} (id {a.get('id')})"
      vid, cid = self._check_ids(a, where)
      v = self.videos[vid]
      h, w = int(v["height"]), int(v["width"])
      segs = a.get("segmentations")
      if not isinstance(segs, list) or len(segs) != len(v["file_names"]):
        raise ValueError(f"{where}: needs one segmentation per frame "
                         f"({len(v['file_names'])})")
      rles = [_to_rle(s, h, w, where) for s in segs]
      areas = a.get("areas")
      if areas is None:
        areas = [float(mask_utils.area(r)) if r else None for r in rles]
      self._gts[vid, cid].append({
          "id": int(a["id"]), "segmentations": rles, "avg_area": _avg_area(areas),
          "ignore": bool(a.get("iscrowd", 0))})

  def _check_ids(self, a, where):
    try:
      vid, cid = int(a["video_id"]), int(a["category_id"])
    except (KeyError, TypeError, ValueError) as e:
      raise ValueError(f"{where}: missing video_id/category_id") from e
    if vid not in self.videos:
      raise ValueError(f"{where}: unknown video_id {vid}")
    if cid not in self.cat_ids:
      raise ValueError(f"{where}: unknown category_id {cid}")
    return vid, cid

  def _load_results(self, results, name):
    if not isinstance(results, list):
      raise ValueError(f"{name}: results must be a JSON list")
    if not results:
      raise ValueError(f"{name}: empty results list (the reference loadRes crashes)")
    dts = collections.defaultdict(list)
    for k, r in enumerate(results):
      where = f"{name}: result #{k}"
      if not isinstance(r, dict):
        raise ValueError(f"{where}: not an object")
      vid, cid = self._check_ids(r, where)
      score = r.get("score")
      if not isinstance(score, numbers.Real) or isinstance(score, bool) or not np.isfinite(score):
        raise ValueError(f"{where}: score must be a finite number, got {score!r}")
      v = self.videos[vid]
      h, w = int(v["height"]), int(v["width"])
      segs = r.get("segmentations")
      if not isinstance(segs, list) or len(segs) != len(v["file_names"]):
        raise ValueError(f"{where}: needs one segmentation (RLE or null) per frame "
                         f"({len(v['file_names'])}) of video {vid}")
      rles = [_to_rle(s, h, w, where) if s is not None else None for s in segs]
      areas = [float(mask_utils.area(s)) if s else None for s in rles]
      dts[vid, cid].append({"id": k + 1, "segmentations": rles, "score": float(score),
                            "avg_area": _avg_area(areas)})
    return dts

  def _evaluate_video(self, gt, dt, ious, a_rng):
    g_ignore = np.array([g["ignore"] or g["avg_area"] < a_rng[0] or g["avg_area"] > a_rng[1]
                         for g in gt], bool)
    gtind = np.argsort(g_ignore, kind="mergesort")
    gt = [gt[i] for i in gtind]
    g_ignore = g_ignore[gtind]
    iscrowd = [g["ignore"] for g in gt]
    if len(ious):
      ious = ious[:, gtind]
    t_n, g_n, d_n = len(IOU_THRS), len(gt), len(dt)
    gtm = np.zeros((t_n, g_n))
    dtm = np.zeros((t_n, d_n))
    dt_ig = np.zeros((t_n, d_n), bool)
    if len(ious):
      for ti, t in enumerate(IOU_THRS):
        for di, d in enumerate(dt):
          best = min([t, 1 - 1e-10])
          m = -1
          for gi in range(g_n):
            if gtm[ti, gi] > 0 and not iscrowd[gi]:
              continue
            if m > -1 and not g_ignore[m] and g_ignore[gi]:
              break
            if ious[di, gi] < best:
              continue
            best = ious[di, gi]
            m = gi
          if m == -1:
            continue
          dt_ig[ti, di] = g_ignore[m]
          dtm[ti, di] = gt[m]["id"]
          gtm[ti, m] = d["id"]
    out_of_range = np.array([d["avg_area"] < a_rng[0] or d["avg_area"] > a_rng[1]
                             for d in dt], bool).reshape(1, d_n)
    dt_ig = dt_ig | ((dtm == 0) & np.repeat(out_of_range, t_n, 0))
    return {"dtMatches": dtm, "dtScores": [d["score"] for d in dt], "gtIgnore": g_ignore,
            "dtIgnore": dt_ig}

  def evaluate(self, results: List[dict], name: str = "results") -> dict:
    """Returns {'stats': {...}, 'precision': [T,R,K,A,M] list, ...}."""
    dts = self._load_results(results, name)
    vid_ids = sorted(self.videos)
    evals = {}
    for vid in vid_ids:
      for cid in self.cat_ids:
        gt = self._gts.get((vid, cid), [])
        dt = dts.get((vid, cid), [])
        if not gt and not dt:
          continue
        order = np.argsort([-d["score"] for d in dt], kind="mergesort")
        dt = [dt[i] for i in order][:MAX_DETS[-1]]
        ious = np.zeros((len(dt), len(gt)))
        for i, d in enumerate(dt):
          for j, g in enumerate(gt):
            ious[i, j] = _iou_seq(d["segmentations"], g["segmentations"])
        for a, rng in enumerate(AREA_RNG):
          evals[cid, a, vid] = self._evaluate_video(gt, dt, ious, rng)
    return self._accumulate(evals, vid_ids)

  def _accumulate(self, evals, vid_ids):
    t_n, r_n, k_n, a_n, m_n = (len(IOU_THRS), len(REC_THRS), len(self.cat_ids),
                               len(AREA_RNG), len(MAX_DETS))
    precision = -np.ones((t_n, r_n, k_n, a_n, m_n))
    recall = -np.ones((t_n, k_n, a_n, m_n))
    for k, cid in enumerate(self.cat_ids):
      for a in range(a_n):
        es = [evals[cid, a, v] for v in vid_ids if (cid, a, v) in evals]
        if not es:
          continue
        for m, max_det in enumerate(MAX_DETS):
          scores = np.concatenate([e["dtScores"][:max_det] for e in es])
          inds = np.argsort(-scores, kind="mergesort")
          dtm = np.concatenate([e["dtMatches"][:, :max_det] for e in es], axis=1)[:, inds]
          dt_ig = np.concatenate([e["dtIgnore"][:, :max_det] for e in es], axis=1)[:, inds]
          gt_ig = np.concatenate([e["gtIgnore"] for e in es])
          npig = np.count_nonzero(gt_ig == 0)
          if npig == 0:
            continue
          tps = np.logical_and(dtm, np.logical_not(dt_ig))
          fps = np.logical_and(np.logical_not(dtm), np.logical_not(dt_ig))
          tp_sum = np.cumsum(tps, axis=1).astype(np.float64)
          fp_sum = np.cumsum(fps, axis=1).astype(np.float64)
          for t, (tp, fp) in enumerate(zip(tp_sum, fp_sum)):
            nd = len(tp)
            rc = tp / npig
            pr = (tp / (fp + tp + np.spacing(1))).tolist()
            recall[t, k, a, m] = rc[-1] if nd else 0
            for i in range(nd - 1, 0, -1):
              if pr[i] > pr[i - 1]:
                pr[i - 1] = pr[i]
            idx = np.searchsorted(rc, REC_THRS, side="left")
            q = np.zeros(r_n)
            for ri, pi in enumerate(idx):
              if pi >= nd:
                break
              q[ri] = pr[pi]
            precision[t, :, k, a, m] = q

    def summarize(ap, iou_thr=None, area="all", max_det=100):
      a = AREA_LBL.index(area)
      m = MAX_DETS.index(max_det)
      if ap:
        s = precision
        if iou_thr is not None:
          s = s[np.where(iou_thr == IOU_THRS)[0]]
        s = s[:, :, :, a, m]
      else:
        s = recall
        if iou_thr is not None:
          s = s[np.where(iou_thr == IOU_THRS)[0]]
        s = s[:, :, a, m]
      valid = s[s > -1]
      return float(np.mean(valid)) if valid.size else -1.0

    values = [summarize(1), summarize(1, .5), summarize(1, .75),
              summarize(1, area="small"), summarize(1, area="medium"),
              summarize(1, area="large"), summarize(0, max_det=1),
              summarize(0, max_det=10), summarize(0), summarize(0, area="small"),
              summarize(0, area="medium"), summarize(0, area="large")]
    return {"stats": dict(zip(STAT_NAMES, values)), "precision": precision,
            "recall": recall}
