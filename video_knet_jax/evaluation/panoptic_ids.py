"""The panoptic id encoding used by the array metrics (STQ, VPQ).

id = semantic * label_divisor + instance. The model and the KITTI-STEP pipeline
use label_divisor = 1000 (`common.PANOPTIC`), semantic = Cityscapes trainId
0..18 and 255 = void; deeplab2's numpy STQ takes a bit shift s instead, which is
label_divisor = 2**s. Instance 0 is a stuff pixel, a crowd/untracked thing
pixel, or void. The encoding never changes a metric value as long as it is
injective, i.e. every instance id is < label_divisor.
"""
from __future__ import annotations

import numpy as np


def encode(semantic: np.ndarray, instance: np.ndarray, label_divisor: int) -> np.ndarray:
  """semantic * label_divisor + instance as int64, checking instance < divisor."""
  semantic = np.asarray(semantic, np.int64)
  instance = np.asarray(instance, np.int64)
  if instance.size and (instance.min() < 0 or instance.max() >= label_divisor):
    raise ValueError(f"instance ids must lie in [0, {label_divisor}), found "
                     f"[{instance.min()}, {instance.max()}]")
  return semantic * label_divisor + instance


def semantic_lookup(values: np.ndarray, num_classes: int, ignore_label: int,
                    what: str) -> np.ndarray:
  """Maps semantic values to rows of a confusion matrix with a void slot.

  Valid values: 0..num_classes-1 and ignore_label; when ignore_label >
  num_classes, deeplab2 remaps it to num_classes, so that value is also void.
  Anything else raises ValueError (the references crash or miscount).

  Returns:
    [N] int64 index in [0, size) where size = num_classes + 1 if ignore_label
    >= num_classes else num_classes; the void index is `void_index(...)`.
  """
  values = np.asarray(values, np.int64)
  void = void_index(num_classes, ignore_label)
  out = np.where(values == ignore_label, void, values)
  valid = (out >= 0) & (out < num_classes) | (out == void)
  if not np.all(valid):
    bad = sorted(set(np.asarray(values)[~valid].tolist()))[:10]
    raise ValueError(f"unknown {what} semantic class(es) {bad}; expected 0.."
                     f"{num_classes - 1} or ignore label {ignore_label}")
  return out


def void_index(num_classes: int, ignore_label: int) -> int:
  return num_classes if ignore_label >= num_classes else ignore_label


def matrix_size(num_classes: int, ignore_label: int) -> int:
  return num_classes + 1 if ignore_label >= num_classes else num_classes
