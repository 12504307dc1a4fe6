"""The panoptic-quality matching rule shared by PQ, VPQ and every variant.

One "image" (a frame, or a window of frames whose pixels are stacked) is scored
from its `SegmentCounts` plus per-segment attributes that encode each reference's
void and crowd conventions (metrics_and_datasets.md 2.1-2.3):

* a (gt, pred) pair is a candidate if the gt segment is matchable (not void,
  not crowd) and both have the same category; it matches iff IoU > 0.5
  (strict), where IoU = |g&p| / (|g| + |p| - |g&p| - |p & union-void gt|);
* unmatched matchable gt segments are false negatives;
* an unmatched prediction is a false positive unless more than half of it lies
  on fp-void gt plus (panopticapi) the crowd segment of its own category.

Counts are pooled per category by the caller; `summarize` averages them.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, Optional

import numpy as np

from video_knet_jax.evaluation.segment_counts import SegmentCounts


@dataclasses.dataclass
class PQStats:
  """Per-category counts pooled over images/windows."""
  tp: np.ndarray    # [C] int64
  fp: np.ndarray    # [C] int64
  fn: np.ndarray    # [C] int64
  iou: np.ndarray   # [C] float64, sum of matched IoUs

  @classmethod
  def zeros(cls, num_categories: int) -> "PQStats":
    z = lambda: np.zeros(num_categories, np.int64)
    return cls(z(), z(), z(), np.zeros(num_categories, np.float64))

  def __iadd__(self, other: "PQStats") -> "PQStats":
    self.tp += other.tp
    self.fp += other.fp
    self.fn += other.fn
    self.iou += other.iou
    return self


def match_segments(counts: SegmentCounts, *, num_categories: int,
                   gt_cat: np.ndarray, gt_matchable: np.ndarray,
                   gt_union_void: np.ndarray, gt_fp_void: np.ndarray,
                   gt_fp_crowd: np.ndarray, pred_cat: np.ndarray,
                   gt_areas: Optional[np.ndarray] = None,
                   pred_areas: Optional[np.ndarray] = None) -> PQStats:
  """Scores one image/window.

  Args:
    counts: pixel statistics of the image (or stacked window).
    num_categories: C; categories are indices 0..C-1.
    gt_cat: [G] category index per gt segment (-1: none, e.g. void).
    gt_matchable: [G] may be matched and becomes an FN when unmatched.
    gt_union_void: [G] the prediction's overlap with it leaves the union.
    gt_fp_void: [G] overlap counts toward the FP exemption for any prediction.
    gt_fp_crowd: [G] overlap counts toward the FP exemption of predictions of
      the same category (panopticapi: the last crowd segment per category).
    pred_cat: [P] category index per predicted segment (-1: void prediction,
      which is neither matched nor counted).
    gt_areas, pred_areas: optional area overrides (panopticapi takes gt areas
      from the JSON); default: pixel counts.

  Returns:
    PQStats of this image.
  """
  g_area = counts.gt_areas if gt_areas is None else np.asarray(gt_areas)
  p_area = counts.pred_areas if pred_areas is None else np.asarray(pred_areas)
  num_g, num_p = counts.gt_ids.size, counts.pred_ids.size
  pg, pp, inter = counts.pair_gt, counts.pair_pred, counts.pair_counts
  interf = inter.astype(np.float64)

  void_union = np.bincount(pp, weights=interf * gt_union_void[pg], minlength=num_p)
  pair_gcat = gt_cat[pg]
  pair_pcat = pred_cat[pp]
  cand = gt_matchable[pg] & (pair_pcat >= 0) & (pair_gcat == pair_pcat)
  cg, cp, ci = pg[cand], pp[cand], inter[cand]
  union = g_area[cg] + p_area[cp] - ci - void_union[cp]
  iou = ci / union
  ok = iou > 0.5
  mg, mp, miou = cg[ok], cp[ok], iou[ok]

  stats = PQStats.zeros(num_categories)
  stats.tp += np.bincount(gt_cat[mg], minlength=num_categories)
  stats.iou += np.bincount(gt_cat[mg], weights=miou, minlength=num_categories)
  g_matched = np.zeros(num_g, bool)
  g_matched[mg] = True
  p_matched = np.zeros(num_p, bool)
  p_matched[mp] = True

  fn_mask = gt_matchable & ~g_matched
  stats.fn += np.bincount(gt_cat[fn_mask], minlength=num_categories)

  exempt_pair = gt_fp_void[pg] | (gt_fp_crowd[pg] & (pair_gcat == pair_pcat))
  exempt = np.bincount(pp, weights=interf * exempt_pair, minlength=num_p)
  with np.errstate(divide="ignore", invalid="ignore"):
    ignored = exempt / p_area > 0.5
  fp_mask = (pred_cat >= 0) & ~p_matched & ~ignored
  stats.fp += np.bincount(pred_cat[fp_mask], minlength=num_categories)
  return stats


def summarize(stats: PQStats, selected: Iterable[bool], *,
              all_classes: bool = False,
              category_names: Optional[list] = None) -> dict:
  """Averages per-category PQ/SQ/RQ over the selected categories.

  all_classes=False (panopticapi, VPSNet, deeplab2): categories with
  tp+fp+fn = 0 are skipped; PQ = NaN when none remains (the reference raises
  ZeroDivisionError). all_classes=True (Video K-Net's eval_dvpq_step.py): every
  selected category counts, empty ones as 0, with the script's 1e-10 epsilon.
  """
  sel = np.asarray(list(selected), bool)
  tp = stats.tp.astype(np.float64)
  fp = stats.fp.astype(np.float64)
  fn = stats.fn.astype(np.float64)
  iou = stats.iou
  if all_classes:
    eps = 1e-10
    sq_c = iou / (tp + eps)
    rq_c = tp / (tp + 0.5 * fn + 0.5 * fp + eps)
    pq_c = sq_c * rq_c
    used = sel
  else:
    denom = tp + 0.5 * fp + 0.5 * fn
    used = sel & (denom > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
      pq_c = np.where(denom > 0, iou / denom, 0.0)
      sq_c = np.where(tp > 0, iou / np.maximum(tp, 1), 0.0)
      rq_c = np.where(denom > 0, tp / denom, 0.0)
  n = int(used.sum())
  mean = lambda v: float(v[used].sum() / n) if n else float("nan")
  return {"PQ": mean(pq_c), "SQ": mean(sq_c), "RQ": mean(rq_c), "n": n}


def per_class(stats: PQStats, category_ids: list) -> dict:
  """Per-category PQ/SQ/RQ and raw counts, keyed by str(category id)."""
  out = {}
  for k, cid in enumerate(category_ids):
    tp, fp, fn = int(stats.tp[k]), int(stats.fp[k]), int(stats.fn[k])
    iou = float(stats.iou[k])
    denom = tp + 0.5 * fp + 0.5 * fn
    out[str(cid)] = {
        "PQ": iou / denom if denom else 0.0,
        "SQ": iou / tp if tp else 0.0,
        "RQ": tp / denom if denom else 0.0,
        "iou": iou, "tp": tp, "fp": fp, "fn": fn}
  return out


def report(stats: PQStats, category_ids: list, isthing: list, *,
           all_classes: bool = False) -> dict:
  """All / Things / Stuff summaries plus per-class numbers."""
  isthing = np.asarray(isthing, bool)
  out = {}
  for name, sel in (("All", np.ones_like(isthing)), ("Things", isthing),
                    ("Stuff", ~isthing)):
    out[name] = summarize(stats, sel, all_classes=all_classes)
  out["per_class"] = per_class(stats, category_ids)
  return out
