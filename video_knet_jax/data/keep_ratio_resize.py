"""The original's keep-ratio resize: mmcv's size rule and OpenCV's filters.

The original (mmdet `Resize(keep_ratio=True)` -> `mmcv.imrescale`) picks the
size with `mmcv.rescale_size` and resizes with `cv2.resize`: images (loaded
as float32) with INTER_LINEAR, masks (uint8) with INTER_NEAREST. Neither
filter antialiases, so PIL's shrinking BILINEAR differs (4 grey levels on
average, 25 at most on a 720x1280 frame).

Written here in numpy because OpenCV would be a large runtime dependency for
two resizes; tests/data/test_keep_ratio_resize.py checks both against
`cv2.resize` (the test extras install OpenCV).
"""
from typing import Sequence, Tuple

import numpy as np


def rescale_factor(height: int, width: int, scale: Sequence[float]) -> float:
  """mmcv.rescale_size's factor for a `scale` pair (either order): the
  largest one with long edge <= max(scale) and short edge <= min(scale)."""
  return min(max(scale) / max(height, width), min(scale) / min(height, width))


def scaled_size(height: int, width: int, factor: float) -> Tuple[int, int]:
  """mmcv._scale_size: each edge x factor, rounded half up (int(x + 0.5))."""
  return int(height * float(factor) + 0.5), int(width * float(factor) + 0.5)


def rescale_size(height: int, width: int, scale: Sequence[float]) -> Tuple[int, int]:
  """(h, w) that mmcv.imrescale gives an (height, width) image for `scale`:
  (640, 360) puts 720x1280 at 360x640, 1280x720 at 640x360, 480x640 at 360x480."""
  return scaled_size(height, width, rescale_factor(height, width, scale))


def _linear_taps(n_in: int, n_out: int):
  """cv2 INTER_LINEAR's source indices (i0, i1) and weight of i1, float32.

  Half-pixel centres; a source position left of pixel 0 or right of the
  last pixel takes that pixel alone (cv2 clamps index and weight).
  """
  scale = 1.0 / (n_out / n_in)                   # as cv2: 1 / inv_scale.
  pos = ((np.arange(n_out) + 0.5) * scale - 0.5).astype(np.float32)
  i0 = np.floor(pos).astype(np.int64)
  frac = (pos - i0.astype(np.float32)).astype(np.float32)
  low, high = i0 < 0, i0 >= n_in - 1
  frac[low | high] = 0.0
  i0 = np.clip(i0, 0, n_in - 1)
  return i0, np.minimum(i0 + 1, n_in - 1), frac


def _linear_axis(x: np.ndarray, n_out: int, axis: int) -> np.ndarray:
  i0, i1, frac = _linear_taps(x.shape[axis], n_out)
  shape = [1] * x.ndim
  shape[axis] = n_out
  frac = frac.reshape(shape)
  return (np.take(x, i0, axis=axis) * (np.float32(1) - frac)
          + np.take(x, i1, axis=axis) * frac)


def bilinear(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
  """cv2.resize(image.astype(float32), (w, h), INTER_LINEAR) of an [H, W]
  image, an [H, W, C] image or [T, H, W, C] frames: float32 out (no
  rounding to uint8, as the original resizes float32 images), no antialias."""
  x = np.asarray(image, np.float32)
  h_axis = 0 if x.ndim == 2 else x.ndim - 3
  h, w = int(size[0]), int(size[1])
  if x.shape[h_axis + 1] != w:
    x = _linear_axis(x, w, h_axis + 1)             # cv2: horizontal pass first.
  if x.shape[h_axis] != h:
    x = _linear_axis(x, h, h_axis)
  return x


def nearest(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
  """cv2.resize(image, (w, h), INTER_NEAREST) of [..., H, W] (dtype kept):
  source index floor(i * n_in / n_out), no half-pixel shift, as OpenCV's
  INTER_NEAREST (not INTER_NEAREST_EXACT)."""
  x = np.asarray(image)
  n_h, n_w = x.shape[-2:]
  rows = np.minimum(np.floor(np.arange(size[0]) * (1.0 / (size[0] / n_h))).astype(np.int64),
                    n_h - 1)
  cols = np.minimum(np.floor(np.arange(size[1]) * (1.0 / (size[1] / n_w))).astype(np.int64),
                    n_w - 1)
  return x[..., rows[:, None], cols[None, :]]
