"""Video consistency mVC_n with VSPW semantics (VC_perclip.py, get_common).

For each video and each window start i in range(T - n) (the last possible
window is never used, as in the reference), C_gt = pixels whose gt label is the
same in all n frames i..i+n-1, C_pred likewise for the prediction, and
VC = |C_gt & C_pred| / |C_gt| (NaN when C_gt is empty). mVC_n = nanmean over
all windows of all videos pooled. Labels are compared as raw values (void and
"others" are not excluded); gt and prediction labels are never compared to each
other. Streaming: window i is scored when frame i + n arrives, so only the last
n + 1 frames of a video are kept.
"""
from __future__ import annotations

import collections
from typing import Dict, Hashable, Sequence

import numpy as np


class VideoConsistency:
  """Streaming mVC for several window lengths (default 8 and 16)."""

  def __init__(self, window_lengths: Sequence[int] = (8, 16)):
    self.window_lengths = tuple(int(n) for n in window_lengths)
    if min(self.window_lengths) < 2:
      raise ValueError(f"window lengths must be >= 2, got {self.window_lengths}")
    self._history: Dict[Hashable, collections.deque] = {}
    self._shape: Dict[Hashable, tuple] = {}
    self._sum = {n: 0.0 for n in self.window_lengths}
    self._count = {n: 0 for n in self.window_lengths}
    self._nan = {n: 0 for n in self.window_lengths}

  def update(self, gt: np.ndarray, pred: np.ndarray, video_id: Hashable = 0,
             name: str = "") -> None:
    """Adds the next frame of a video (gt, pred [H, W] labels)."""
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.shape != pred.shape:
      raise ValueError(f"{name}: prediction size {pred.shape} != ground truth size {gt.shape}")
    if video_id in self._shape and self._shape[video_id] != gt.shape:
      raise ValueError(f"{name}: frame size {gt.shape} differs from earlier frames "
                       f"{self._shape[video_id]} of video {video_id!r}")
    self._shape[video_id] = gt.shape
    hist = self._history.setdefault(
        video_id, collections.deque(maxlen=max(self.window_lengths) + 1))
    hist.append((gt, pred))
    t = len(hist) - 1  # index of the new frame inside hist
    for n in self.window_lengths:
      if t < n:
        continue
      start = t - n  # window frames start .. start + n - 1; frame t proves it is not last
      g0, p0 = hist[start]
      stable_g = np.ones(gt.shape, bool)
      stable_p = np.ones(gt.shape, bool)
      for j in range(1, n):
        gj, pj = hist[start + j]
        stable_g &= g0 == gj
        stable_p &= p0 == pj
      denom = int(stable_g.sum())
      if denom == 0:
        self._nan[n] += 1
        continue
      self._sum[n] += float((stable_g & stable_p).sum()) / denom
      self._count[n] += 1

  def end_video(self, video_id: Hashable) -> None:
    self._history.pop(video_id, None)

  def result(self) -> dict:
    out = {}
    for n in self.window_lengths:
      out[f"mVC_{n}"] = self._sum[n] / self._count[n] if self._count[n] else float("nan")
      out[f"windows_{n}"] = self._count[n] + self._nan[n]
    return out
