"""Segmentation and Tracking Quality (STQ), with deeplab2 semantics.

STQ = sqrt(AQ * IoU) (metrics_and_datasets.md 2.4):

* IoU: one semantic confusion matrix per sequence (rows gt, columns pred, a void
  slot); the void gt row is zeroed but the void column is kept, so predicting
  void on a valid pixel adds a void class with IoU 0. Mean over classes with a
  non-zero union. Global IoU uses the sum of all sequences' matrices.
* AQ: class-agnostic over thing tubes. A gt tube is one gt id with a thing class
  and instance > 0; gt thing pixels with instance 0 are crowd and are removed
  from gt and predicted tubes. A predicted tube is any predicted id whose class
  is a thing (instance 0 included); its pixels on gt stuff or void count.
  AQ_g = (1/|g|) sum_p TPA^2 / (|p| + |g| - TPA); global AQ = sum of AQ_g over
  all tubes of all sequences / number of tubes.

Counts are exact int64 and the arithmetic float64; deeplab2 stores areas as
float32, so it differs from this by ~1e-7 relative on very large tubes.

KITTI-STEP protocols (`kitti_step_stq`):
* "official" (deeplab2): things = person, car (11, 13); void pixels kept.
* "video_knet" (lxtGH/Video-K-Net tools/eval_dstq_step.py, the paper's numbers):
  things = 11..18 and every pixel whose gt class is 255 is dropped first.

Panoptic ids: semantic * label_divisor + instance (see `panoptic_ids`).
"""
from __future__ import annotations

from typing import Dict, Hashable, Optional, Sequence

import numpy as np

from video_knet_jax.evaluation import panoptic_ids
from video_knet_jax.evaluation.segment_counts import SegmentCounts, count_pairs

_COMPACT_EVERY = 32


class _TubeStats:
  """Streaming tube areas and overlaps of one sequence (compacted periodically)."""

  def __init__(self):
    self.gt = []     # list of (ids, areas)
    self.pred = []
    self.pairs = []  # list of (gt_ids, pred_ids, counts)

  @staticmethod
  def _sum(keys, values):
    keys = np.concatenate(keys)
    values = np.concatenate(values)
    uniq, inv = np.unique(keys, return_inverse=True)
    return uniq, np.bincount(inv.reshape(-1), weights=values,
                             minlength=uniq.size).round().astype(np.int64)

  def add(self, gt, pred, pairs):
    self.gt.append(gt)
    self.pred.append(pred)
    self.pairs.append(pairs)
    if len(self.gt) >= _COMPACT_EVERY:
      self.compact()

  def compact(self):
    if self.gt:
      self.gt = [self._sum(*zip(*self.gt))]
      self.pred = [self._sum(*zip(*self.pred))]
      g, p, c = zip(*self.pairs)
      g = np.concatenate(g)
      p = np.concatenate(p)
      # Pair keys: rank of the gt id and of the pred id among all ids seen.
      gu, gi = np.unique(g, return_inverse=True)
      pu, pi = np.unique(p, return_inverse=True)
      keys, sums = self._sum([gi.reshape(-1) * max(pu.size, 1) + pi.reshape(-1)],
                             [np.concatenate(c)])
      self.pairs = [(gu[keys // max(pu.size, 1)], pu[keys % max(pu.size, 1)], sums)]

  def aq_sum_and_tubes(self):
    """(sum over gt tubes of AQ_g, number of gt tubes)."""
    self.compact()
    if not self.gt or self.gt[0][0].size == 0:
      return 0.0, 0
    g_ids, g_areas = self.gt[0]
    p_ids, p_areas = self.pred[0]
    pg, pp, tpa = self.pairs[0]
    if pg.size == 0:
      return 0.0, int(g_ids.size)
    gsz = g_areas[np.searchsorted(g_ids, pg)].astype(np.float64)
    psz = p_areas[np.searchsorted(p_ids, pp)].astype(np.float64)
    tpa = tpa.astype(np.float64)
    fpa = psz - tpa
    fna = gsz - tpa
    contrib = tpa * (tpa / (tpa + fpa + fna)) / gsz
    return float(contrib.sum()), int(g_ids.size)


class STQ:
  """Streaming STQ over sequences.

  Usage:
    metric = STQ(num_classes=19, things=(11, 13), ignore_label=255,
                 label_divisor=1000)
    for each frame: metric.update(gt_panoptic, pred_panoptic, sequence_id)
    metric.result()  # dict, see `result`.

  Frames of a sequence may arrive in any order and sequences may interleave;
  memory grows with the number of tubes, not with the number of frames.
  """

  def __init__(self, num_classes: int, things: Sequence[int], ignore_label: int = 255,
               label_divisor: int = 1000, drop_void_pixels: bool = False):
    self.num_classes = int(num_classes)
    self.things = tuple(int(t) for t in things)
    if any(t < 0 or t >= num_classes for t in self.things):
      raise ValueError(f"things {self.things} must be classes in [0, {num_classes})")
    self.ignore_label = int(ignore_label)
    self.label_divisor = int(label_divisor)
    self.drop_void_pixels = bool(drop_void_pixels)
    self._size = panoptic_ids.matrix_size(self.num_classes, self.ignore_label)
    self._void = panoptic_ids.void_index(self.num_classes, self.ignore_label)
    self._confusion: Dict[Hashable, np.ndarray] = {}
    self._tubes: Dict[Hashable, _TubeStats] = {}
    self._length: Dict[Hashable, int] = {}

  def update(self, gt: np.ndarray, pred: np.ndarray, sequence_id: Hashable = 0) -> None:
    """Adds one frame: gt, pred [H, W] int panoptic ids."""
    self.update_counts(count_pairs(gt, pred), sequence_id)

  def update_counts(self, counts: SegmentCounts, sequence_id: Hashable = 0) -> None:
    """Adds one frame given its precomputed `count_pairs` table."""
    d = self.label_divisor
    if self.drop_void_pixels:
      keep = counts.gt_ids[counts.pair_gt] // d != self.ignore_label
      if not keep.all():
        counts = counts.restrict(keep)
    g_sem = counts.gt_ids // d
    p_sem = counts.pred_ids // d
    g_row = panoptic_ids.semantic_lookup(g_sem, self.num_classes, self.ignore_label,
                                         "ground-truth")
    p_col = panoptic_ids.semantic_lookup(p_sem, self.num_classes, self.ignore_label,
                                         "predicted")
    pg, pp, cnt = counts.pair_gt, counts.pair_pred, counts.pair_counts
    size = self._size
    conf = np.bincount(g_row[pg] * size + p_col[pp], weights=cnt.astype(np.float64),
                       minlength=size * size).round().astype(np.int64).reshape(size, size)
    if sequence_id not in self._confusion:
      self._confusion[sequence_id] = np.zeros((size, size), np.int64)
      self._tubes[sequence_id] = _TubeStats()
      self._length[sequence_id] = 0
    self._confusion[sequence_id] += conf
    self._length[sequence_id] += 1

    things = np.asarray(self.things, np.int64)
    g_thing = np.isin(g_sem, things)
    g_inst = counts.gt_ids % d
    g_crowd = g_thing & (g_inst == 0)
    g_tube = g_thing & (g_inst > 0)
    p_thing = np.isin(p_sem, things)
    # Predicted tube sizes exclude pixels on gt crowd.
    pair_pred_ok = p_thing[pp] & ~g_crowd[pg]
    pred_ids = counts.pred_ids[pp[pair_pred_ok]]
    pred_cnt = cnt[pair_pred_ok]
    gt_sel = g_tube
    inter = g_tube[pg] & p_thing[pp]
    self._tubes[sequence_id].add(
        (counts.gt_ids[gt_sel], counts.gt_areas[gt_sel]),
        (pred_ids, pred_cnt),
        (counts.gt_ids[pg[inter]], counts.pred_ids[pp[inter]], cnt[inter]))

  def _class_ious(self, confusion: np.ndarray):
    """Per-slot IoU (void gt row zeroed, void column kept) and the union mask."""
    confusion = confusion.copy()
    confusion[self._void, :] = 0
    inter = np.diag(confusion).astype(np.float64)
    fps = confusion.sum(axis=0) - inter
    fns = confusion.sum(axis=1) - inter
    unions = inter + fps + fns
    return inter / np.maximum(unions, 1e-15), unions > 0

  def _iou(self, confusion: np.ndarray) -> float:
    ious, used = self._class_ious(confusion)
    n = int(used.sum())
    return float(np.sum(ious) / n) if n else float("nan")

  def result(self) -> dict:
    """STQ, AQ, IoU (all in [0, 1]) and per-sequence values.

    Per-sequence lists follow the order in which sequences were first seen.
    IoU (hence STQ) is NaN when no pixel has a valid ground truth.
    """
    seq_ids = list(self._confusion)
    aq_sums, tubes, ious = [], [], []
    total = np.zeros((self._size, self._size), np.int64)
    for s in seq_ids:
      total += self._confusion[s]
      ious.append(self._iou(self._confusion[s]))
      a, t = self._tubes[s].aq_sum_and_tubes()
      aq_sums.append(a)
      tubes.append(t)
    aq_sums = np.asarray(aq_sums, np.float64)
    tubes_arr = np.asarray(tubes, np.float64)
    aq = float(aq_sums.sum() / max(tubes_arr.sum(), 1e-15)) if seq_ids else 0.0
    iou = self._iou(total) if seq_ids else float("nan")
    aq_per_seq = aq_sums / np.maximum(tubes_arr, 1e-15)
    ious_arr = np.asarray(ious, np.float64)
    class_ious, used = self._class_ious(total)
    return {
        # Slots 0..num_classes-1, then the void slot when ignore_label >= num_classes;
        # None where the class is absent from gt and prediction (not averaged).
        "IoU_per_class": [float(v) if u else None for v, u in zip(class_ious, used)],
        "STQ": float(np.sqrt(aq * iou)),
        "AQ": aq,
        "IoU": iou,
        "STQ_per_seq": np.sqrt(aq_per_seq * ious_arr).tolist(),
        "AQ_per_seq": aq_per_seq.tolist(),
        "IoU_per_seq": ious_arr.tolist(),
        "ID_per_seq": seq_ids,
        "Length_per_seq": [self._length[s] for s in seq_ids],
        "Tubes_per_seq": tubes,
    }

  def merge(self, other: "STQ") -> None:
    """Adds another STQ's state (disjoint sequences, e.g. from a worker)."""
    for s, conf in other._confusion.items():
      if s in self._confusion:
        raise ValueError(f"sequence {s!r} present in both STQ states")
      self._confusion[s] = conf
      self._tubes[s] = other._tubes[s]
      self._length[s] = other._length[s]


KITTI_STEP_PROTOCOLS = ("official", "video_knet")


def kitti_step_stq(protocol: str = "official", label_divisor: int = 1000) -> STQ:
  """STQ configured for KITTI-STEP (19 trainId classes, void 255).

  "official": deeplab2's descriptor, things = (11, 13), void pixels kept.
  "video_knet": the paper's tools/eval_dstq_step.py, things = 11..18 and all
  gt-void pixels dropped before scoring.
  """
  if protocol == "official":
    return STQ(19, (11, 13), 255, label_divisor, drop_void_pixels=False)
  if protocol == "video_knet":
    return STQ(19, tuple(range(11, 19)), 255, label_divisor, drop_void_pixels=True)
  raise ValueError(f"unknown KITTI-STEP STQ protocol {protocol!r}; "
                   f"expected one of {KITTI_STEP_PROTOCOLS}")
