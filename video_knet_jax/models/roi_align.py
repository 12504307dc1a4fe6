"""RoI-Align over FPN levels with static shapes: the RoI-Align embedding ablation.

The original's RoI-Align baseline (`knet/video/knet_quansi_dense_roi_gt_box*.py`)
boxes each thing mask (`unitrack` `batch_mask2boxlist`: centre +- 2 x the mean
absolute deviation of the mask's pixel coordinates, at least 1, boxes clamped
at 0), maps each box to one FPN level (mmdet `SingleRoIExtractor`,
finest_scale 56) and pools a 7 x 7 grid with mmcv `RoIAlign(aligned=True,
sampling_ratio=2)` before QDTrack's embed head.

Written here because no JAX library ships RoI-Align. Bilinear sampling on a
grid whose rows depend only on y and columns only on x is separable, so for
K boxes it is two batched matrix products with interpolation matrices
[K, out, H] and [K, out, W] (no Python loop over boxes, no gather); averaging
the sampling_ratio^2 samples of a bin folds into those matrices. Every level
is pooled for every box and the box's own level is selected (static shapes).
"""
from typing import Sequence

import jax
import jax.numpy as jnp

FINEST_SCALE = 56.0   # mmdet SingleRoIExtractor: boxes up to 112 px go to level 0.


def _axis_weights(start: jax.Array, end: jax.Array, size: int, output_size: int,
                  sampling_ratio: int) -> jax.Array:
  """[K] bin-grid start/end (feature pixels) -> [K, output_size, size] weights.

  Row p averages the bilinear weights of the bin's `sampling_ratio` sample
  positions start + (p + (i + 0.5) / ratio) * bin, with mmcv's border rule: a
  sample outside [-1, size] contributes 0, one in [-1, 0] is clamped to 0, one
  past size - 1 reads the last pixel.
  """
  bin_size = (end - start) / output_size                                 # [K]
  offsets = (jnp.arange(output_size, dtype=jnp.float32)[:, None]
             + (jnp.arange(sampling_ratio, dtype=jnp.float32)[None, :] + 0.5)
             / sampling_ratio)                                            # [out, r]
  pos = start[:, None, None] + offsets[None] * bin_size[:, None, None]   # [K, out, r]
  inside = (pos >= -1.0) & (pos <= size)
  pos = jnp.maximum(pos, 0.0)
  low = jnp.floor(pos)
  last = low >= size - 1
  low = jnp.where(last, size - 1, low)
  pos = jnp.where(last, low, pos)
  high = jnp.where(last, low, low + 1)
  frac = pos - low
  grid = jnp.arange(size, dtype=jnp.float32)
  weights = ((grid == low[..., None]) * (1.0 - frac)[..., None]
             + (grid == high[..., None]) * frac[..., None])               # [K, out, r, size]
  weights = jnp.where(inside[..., None], weights, 0.0)
  return jnp.mean(weights, axis=2)


def roi_align(feats: jax.Array, boxes: jax.Array, spatial_scale: float,
              output_size: int = 7, sampling_ratio: int = 2) -> jax.Array:
  """mmcv `RoIAlign(aligned=True)` of one image.

  Args:
    feats: [H, W, C] one feature level.
    boxes: [K, 4] (x1, y1, x2, y2) in image pixels.
    spatial_scale: 1 / the level's stride.
    output_size: bins per side.
    sampling_ratio: samples per bin side (> 0).

  Returns:
    [K, output_size, output_size, C] float32.
  """
  height, width = feats.shape[:2]
  boxes = boxes.astype(jnp.float32) * spatial_scale - 0.5                # aligned=True.
  wy = _axis_weights(boxes[:, 1], boxes[:, 3], height, output_size, sampling_ratio)
  wx = _axis_weights(boxes[:, 0], boxes[:, 2], width, output_size, sampling_ratio)
  rows = jnp.einsum("kph,hwc->kpwc", wy, feats.astype(jnp.float32),
                    precision=jax.lax.Precision.HIGHEST)
  return jnp.einsum("kpwc,kqw->kpqc", rows, wx, precision=jax.lax.Precision.HIGHEST)


def roi_levels(boxes: jax.Array, num_levels: int,
               finest_scale: float = FINEST_SCALE) -> jax.Array:
  """mmdet `SingleRoIExtractor.map_roi_levels`: [K, 4] -> [K] int32 level."""
  scale = jnp.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
  level = jnp.floor(jnp.log2(scale / finest_scale + 1e-6))
  return jnp.clip(level, 0, num_levels - 1).astype(jnp.int32)


def multi_level_roi_align(levels: Sequence[jax.Array], strides: Sequence[int],
                          boxes: jax.Array, output_size: int = 7, sampling_ratio: int = 2,
                          finest_scale: float = FINEST_SCALE) -> jax.Array:
  """`SingleRoIExtractor` of one image: levels [H_l, W_l, C], boxes [K, 4] ->
  [K, out, out, C], each box pooled on its own level."""
  if len(levels) != len(strides):
    raise ValueError(f"multi_level_roi_align: {len(levels)} levels, {len(strides)} strides.")
  level_of_box = roi_levels(boxes, len(levels), finest_scale)
  out = 0.0
  for index, (feats, stride) in enumerate(zip(levels, strides)):
    pooled = roi_align(feats, boxes, 1.0 / stride, output_size, sampling_ratio)
    out = out + jnp.where((level_of_box == index)[:, None, None, None], pooled, 0.0)
  return out


def mask_boxes(masks: jax.Array, extend: float = 2.0) -> jax.Array:
  """`unitrack` `batch_mask2boxlist` of one image, clamped at 0 as the original's rois.

  masks: [K, H, W] (nonzero = inside) -> [K, 4] (x1, y1, x2, y2) =
  (cx - e * sx, cy - e * sy, cx + e * sx, cy + e * sy) with (cx, cy) the mean
  pixel coordinate, sx / sy the mean absolute deviation of x / y (at least 1)
  and e = extend; an empty mask gives (0, 0, 0, 0).
  """
  on = (masks != 0).astype(jnp.float32)
  cols, rows = on.sum(axis=1), on.sum(axis=2)                            # [K, W], [K, H]
  count = cols.sum(axis=1)                                               # [K]
  safe = jnp.maximum(count, 1.0)
  xs = jnp.arange(masks.shape[2], dtype=jnp.float32)
  ys = jnp.arange(masks.shape[1], dtype=jnp.float32)
  cx = (cols @ xs) / safe
  cy = (rows @ ys) / safe
  sx = jnp.maximum(jnp.sum(cols * jnp.abs(xs[None] - cx[:, None]), axis=1) / safe, 1.0)
  sy = jnp.maximum(jnp.sum(rows * jnp.abs(ys[None] - cy[:, None]), axis=1) / safe, 1.0)
  boxes = jnp.stack([cx - extend * sx, cy - extend * sy, cx + extend * sx, cy + extend * sy], -1)
  return jnp.where((count > 0)[:, None], jnp.maximum(boxes, 0.0), 0.0)
