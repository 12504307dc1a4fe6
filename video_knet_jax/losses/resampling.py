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


def upsample_last_axis_by_blocks(x: jax.Array, factor: int) -> jax.Array:
  """`x @ upsample_matrix(w, factor).T` for [..., w] -> [..., w * factor],
  with a fraction of the product's work; for inputs without gradient.

  The interpolation matrix is banded: each block of b inputs gives b * factor
  outputs from those b inputs and one neighbour on each side. So the dense
  [w, W] product becomes one [b, b * factor] product per block plus the two
  neighbours' rank-one terms (edge neighbours repeated, like the clamp of the
  bilinear kernel): 2b instead of 2w multiply-adds per output. Falls back to
  the dense product when no block size divides w. Its autodiff is slow on
  XLA:CPU (the neighbour slices' transposes): the losses' `upsample_logits`
  keeps the dense products.
  """
  x = x.astype(jnp.float32)
  *lead, w = x.shape
  block = next((b for b in (8, 4) if w % b == 0 and w > b), None)
  if block is None:
    return jnp.einsum("...x,vx->...v", x, upsample_matrix(w, factor))
  inner, before, after = _block_weights(block, factor)
  blocks = x.reshape(*lead, w // block, block)                 # [..., n, b]
  first = jnp.concatenate([x[..., :1], blocks[..., :-1, -1]], axis=-1)
  last = jnp.concatenate([blocks[..., 1:, 0], x[..., -1:]], axis=-1)
  out = (jnp.einsum("...nb,bo->...no", blocks, inner)
         + first[..., None] * before + last[..., None] * after)
  return out.reshape(*lead, w * factor)


def _block_weights(block: int, factor: int):
  """Weights of an interior block of `block` inputs: ([b, b f] from the
  block's own inputs, [b f] from the input before it, [b f] from the one
  after it), read off the interpolation matrix of three blocks."""
  rows = upsample_matrix(3 * block, factor)[block * factor:2 * block * factor]
  return (rows[:, block:2 * block].T, rows[:, block - 1], rows[:, 2 * block])


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
