"""Video Panoptic Quality over sliding windows of fully annotated sequences.

Windows of n consecutive frames (stride one frame) are scored like one image
whose pixels are the stacked frames (tube areas and overlaps summed over the
window), counts are pooled per class over all windows of all sequences, and
the reported VPQ is the mean over the window sizes (metrics_and_datasets.md 2.2,
2.3). Frames are streamed: only the last max(window_sizes) - 1 frame tables of
each sequence are kept.

Protocols on `semantic * label_divisor + instance` ids:

* "video_knet": lxtGH/Video-K-Net tools/eval_dvpq_step.py (KITTI-STEP paper
  numbers). No crowd: thing pixels with instance 0 form an ordinary segment.
  Only the gt id `ignore_label * label_divisor` leaves the union; any gt id of
  class ignore_label counts toward the FP exemption. Class mean over *all*
  classes (empty classes count 0, epsilon 1e-10).
* "panopticapi": VPSNet/panopticapi rules applied to the same ids: gt class
  ignore_label is VOID (any instance); gt thing pixels with instance 0 are the
  crowd segment of their class; mean over classes with tp+fp+fn > 0 (NaN if
  none).

A predicted id of class ignore_label is a void prediction: it is never a
segment (the Video K-Net script would crash on it). Every other class outside
0..num_classes-1 raises ValueError.
"""
from __future__ import annotations

import collections
from typing import Dict, Hashable, Sequence

import numpy as np

from video_knet_jax.evaluation import pq_matching
from video_knet_jax.evaluation.segment_counts import (SegmentCounts, count_pairs,
                                                      merge_counts)

VPQ_PROTOCOLS = ("video_knet", "panopticapi")


def _check_classes(sem: np.ndarray, num_classes: int, ignore_label: int, what: str):
  bad = ~(((sem >= 0) & (sem < num_classes)) | (sem == ignore_label))
  if bad.any():
    raise ValueError(f"unknown {what} semantic class(es) {sorted(set(sem[bad].tolist()))[:10]};"
                     f" expected 0..{num_classes - 1} or ignore label {ignore_label}")


def score_window(counts: SegmentCounts, *, num_classes: int, things: Sequence[int],
                 ignore_label: int, label_divisor: int,
                 protocol: str) -> pq_matching.PQStats:
  """PQ counts of one (stacked) window of divisor-form ids."""
  d = label_divisor
  g_sem = counts.gt_ids // d
  g_inst = counts.gt_ids % d
  p_sem = counts.pred_ids // d
  _check_classes(g_sem, num_classes, ignore_label, "ground-truth")
  _check_classes(p_sem, num_classes, ignore_label, "predicted")
  g_void = g_sem == ignore_label
  gt_cat = np.where(g_void, -1, g_sem)
  pred_cat = np.where(p_sem == ignore_label, -1, p_sem)
  if protocol == "video_knet":
    matchable = ~g_void
    union_void = counts.gt_ids == ignore_label * d
    fp_void = g_void
    fp_crowd = np.zeros_like(g_void)
  elif protocol == "panopticapi":
    crowd = np.isin(g_sem, np.asarray(things, np.int64)) & (g_inst == 0)
    matchable = ~g_void & ~crowd
    union_void = g_void
    fp_void = g_void
    fp_crowd = crowd
  else:
    raise ValueError(f"unknown VPQ protocol {protocol!r}; expected one of {VPQ_PROTOCOLS}")
  return pq_matching.match_segments(
      counts, num_categories=num_classes, gt_cat=gt_cat, gt_matchable=matchable,
      gt_union_void=union_void, gt_fp_void=fp_void, gt_fp_crowd=fp_crowd,
      pred_cat=pred_cat)


class VideoPanopticQuality:
  """Streaming VPQ for fully annotated sequences (e.g. KITTI-STEP).

  Usage:
    vpq = VideoPanopticQuality(num_classes=19, things=(11, 13))
    for each frame, in temporal order per sequence:
      vpq.update(gt_panoptic, pred_panoptic, sequence_id)
    vpq.result()

  window_sizes are numbers of consecutive frames (Video K-Net's --eval_frames);
  a sequence shorter than n contributes no window of size n.
  """

  def __init__(self, num_classes: int, things: Sequence[int], ignore_label: int = 255,
               label_divisor: int = 1000, window_sizes: Sequence[int] = (1, 2, 3, 4),
               protocol: str = "video_knet"):
    if protocol not in VPQ_PROTOCOLS:
      raise ValueError(f"unknown VPQ protocol {protocol!r}; expected one of {VPQ_PROTOCOLS}")
    if not window_sizes or min(window_sizes) < 1:
      raise ValueError(f"window_sizes must be positive, got {window_sizes}")
    self.num_classes = int(num_classes)
    self.things = tuple(int(t) for t in things)
    self.ignore_label = int(ignore_label)
    self.label_divisor = int(label_divisor)
    self.window_sizes = tuple(int(n) for n in window_sizes)
    self.protocol = protocol
    self._history: Dict[Hashable, collections.deque] = {}
    self._stats = {n: pq_matching.PQStats.zeros(self.num_classes) for n in self.window_sizes}
    self._windows = {n: 0 for n in self.window_sizes}

  def update(self, gt: np.ndarray, pred: np.ndarray, sequence_id: Hashable = 0) -> None:
    """Adds the next frame of a sequence: gt, pred [H, W] int panoptic ids."""
    self.update_counts(count_pairs(gt, pred), sequence_id)

  def update_counts(self, counts: SegmentCounts, sequence_id: Hashable = 0) -> None:
    hist = self._history.get(sequence_id)
    if hist is None:
      hist = self._history[sequence_id] = collections.deque(maxlen=max(self.window_sizes))
    hist.append(counts)
    frames = list(hist)
    for n in self.window_sizes:
      if len(frames) >= n:
        window = merge_counts(frames[-n:])
        self._stats[n] += score_window(
            window, num_classes=self.num_classes, things=self.things,
            ignore_label=self.ignore_label, label_divisor=self.label_divisor,
            protocol=self.protocol)
        self._windows[n] += 1

  def merge(self, other: "VideoPanopticQuality") -> None:
    """Adds another instance's pooled counts (disjoint sequences, e.g. a worker)."""
    if other.window_sizes != self.window_sizes or other.protocol != self.protocol:
      raise ValueError("cannot merge VPQ states with different settings")
    for n in self.window_sizes:
      self._stats[n] += other._stats[n]
      self._windows[n] += other._windows[n]

  def end_sequence(self, sequence_id: Hashable) -> None:
    """Frees the window history of a finished sequence (optional)."""
    self._history.pop(sequence_id, None)

  def result(self) -> dict:
    """VPQ (mean over window sizes) and per-window-size PQ/SQ/RQ, in [0, 1]."""
    all_classes = self.protocol == "video_knet"
    isthing = [c in self.things for c in range(self.num_classes)]
    per_window = {}
    for n in self.window_sizes:
      rep = pq_matching.report(self._stats[n], list(range(self.num_classes)), isthing,
                               all_classes=all_classes)
      rep["num_windows"] = self._windows[n]
      per_window[str(n)] = rep
    mean = lambda key: float(np.mean([per_window[str(n)][key]["PQ"] for n in self.window_sizes]))
    return {"VPQ": mean("All"), "VPQ_th": mean("Things"), "VPQ_st": mean("Stuff"),
            "per_window": per_window}
