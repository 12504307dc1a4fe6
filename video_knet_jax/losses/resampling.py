"""Resizing between prediction and target resolutions for the losses.

The original supervises at `mask_assign_stride` (2): GT masks are bilinearly
DOWN-sampled there (align_corners=False, no antialias), which makes the
targets soft at borders; stride-8 predictions are bilinearly UP-sampled by an
integer factor (x4). `jax.image.resize(..., 'bilinear', antialias=False)`
uses half-pixel centres, which equals torch `F.interpolate(...,
mode='bilinear', align_corners=False)` for integer up- and down-scaling.
"""
import jax
import jax.numpy as jnp
import numpy as np


def upsample_logits(logits: jax.Array, factor: int) -> jax.Array:
  """Bilinearly upsamples [..., h, w] logits by an integer factor (float32).

  The values of `jax.image.resize(..., 'bilinear', antialias=False)`, as two
  products with the `upsample_matrix` weights laid out so that neither needs
  a transpose: along w, [N*h, w] x [w, W]; along h, a batched [N, H, h] x
  [N, h, W]. jax.image.resize transposes its [..., H, W] operand around each
  axis' product; forward + backward of the mask losses ran 1.7-1.9x faster
  this way (docs/BENCHMARKS.md, "Session 13").
  """
  logits = logits.astype(jnp.float32)
  if factor == 1:
    return logits
  *lead, h, w = logits.shape
  rows = logits.reshape(-1, h, w)                                   # [N, h, w]
  cols_up = jnp.einsum("nhw,vw->nhv", rows, upsample_matrix(w, factor))   # [N, h, W]
  rows_up = jnp.broadcast_to(upsample_matrix(h, factor), (rows.shape[0], h * factor, h))
  return jnp.matmul(rows_up, cols_up).reshape(*lead, h * factor, w * factor)


def downsample_masks(masks: jax.Array, stride: int) -> jax.Array:
  """Bilinearly downsamples binary [..., H, W] masks to soft [..., H/s, W/s]."""
  masks = masks.astype(jnp.float32)
  if stride == 1:
    return masks
  h, w = masks.shape[-2:]
  if h % stride or w % stride:
    raise ValueError(
        f"GT mask size {(h, w)} is not divisible by "
        f"config.loss.mask_assign_stride={stride}.")
  # Half-pixel centres of an integer downscale fall on pixel s*i + (s-1)/2:
  # one pixel for odd s, the mean of a 2x2 block for even s. Strided slices
  # give the same numbers as jax.image.resize at a fraction of its cost
  # (a dense [H, H/s] matmul per axis).
  first = (stride - 1) // 2
  def rows(x, start):
    return x[..., start::stride, :]
  def cols(x, start):
    return x[..., start::stride]
  if stride % 2:
    return cols(rows(masks, first), first)
  half = rows(masks, first) + rows(masks, first + 1)
  return 0.25 * (cols(half, first) + cols(half, first + 1))


def upsample_matrix(size: int, factor: int) -> np.ndarray:
  """[size * factor, size] float32 weights of `upsample_logits` along one axis.

  Output sample i reads input coordinate (i + 0.5) / factor - 0.5, clamped to
  [0, size - 1] (torch bilinear, align_corners=False): two taps per row.
  """
  src = np.clip((np.arange(size * factor) + 0.5) / factor - 0.5, 0, size - 1)
  low = np.floor(src).astype(int)
  high = np.minimum(low + 1, size - 1)
  frac = src - low
  weights = np.zeros((size * factor, size), np.float64)
  rows = np.arange(size * factor)
  np.add.at(weights, (rows, low), 1 - frac)
  np.add.at(weights, (rows, high), frac)
  return weights.astype(np.float32)
