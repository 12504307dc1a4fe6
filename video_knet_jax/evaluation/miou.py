"""Semantic mIoU with VSPW semantics (VSPW_baseline utils.py `Evaluator`).

One C x C confusion matrix (rows gt, columns prediction) is summed over all
frames of all videos; only pixels with 0 <= gt < C count. IoU_c =
diag / (row + col - diag) and mIoU is the mean over classes *present in the
ground truth* (row sum > 0); classes only predicted are not averaged (unlike
STQ's IoU). NaN if no valid gt pixel. Pixel accuracy = diag.sum() / total.

VSPW masks store 0 = "others" and 255 = void, classes 1..124: map them with
`vspw_mask_to_label` (0 -> 255, v -> v - 1) before calling `update`.
Predictions must lie in [0, C) on counted pixels; the reference silently
miscounts other values, here they raise ValueError.
"""
from __future__ import annotations

import numpy as np


def vspw_mask_to_label(mask: np.ndarray, ignore_label: int = 255) -> np.ndarray:
  """Raw VSPW mask values (0 others, 1..124, 255 void) -> 0..123, 255 ignore."""
  mask = np.asarray(mask).astype(np.int64)
  return np.where((mask == 0) | (mask == 255), ignore_label, mask - 1)


class MeanIoU:
  """Streaming confusion-matrix mIoU."""

  def __init__(self, num_classes: int):
    self.num_classes = int(num_classes)
    self.confusion = np.zeros((num_classes, num_classes), np.int64)

  def update(self, gt: np.ndarray, pred: np.ndarray, name: str = "") -> None:
    gt = np.asarray(gt).reshape(-1)
    pred = np.asarray(pred).reshape(-1)
    if gt.shape != pred.shape:
      raise ValueError(f"{name}: prediction size {pred.size} != ground truth size {gt.size}")
    c = self.num_classes
    keep = (gt >= 0) & (gt < c)
    g = gt[keep].astype(np.int64)
    p = pred[keep].astype(np.int64)
    if p.size and (p.min() < 0 or p.max() >= c):
      bad = sorted(set(p[(p < 0) | (p >= c)].tolist()))[:10]
      raise ValueError(f"{name}: predicted class(es) {bad} outside [0, {c})")
    self.confusion += np.bincount(g * c + p, minlength=c * c).reshape(c, c)

  def result(self) -> dict:
    cm = self.confusion.astype(np.float64)
    inter = np.diag(cm)
    rows = cm.sum(axis=1)
    union = rows + cm.sum(axis=0) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
      iou = inter / union
    present = rows > 0
    n = int(present.sum())
    total = cm.sum()
    return {
        "mIoU": float(np.nansum(iou[present]) / n) if n else float("nan"),
        "pixel_accuracy": float(inter.sum() / total) if total else float("nan"),
        "IoU_per_class": [float(v) if p else None for v, p in zip(iou, present)],
        "num_classes_present": n,
    }
