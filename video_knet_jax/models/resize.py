"""Resizing with PyTorch `F.interpolate` semantics.

* bilinear, align_corners=False: `jax.image.resize(..., 'bilinear',
  antialias=False)` uses the same half-pixel sampling and edge clamping
  (antialias only matters when downsampling; torch never antialiases).
* nearest: torch picks source index floor(dst * in / out), which is not what
  `jax.image.resize(..., 'nearest')` does, so it is gathered explicitly.
"""
import functools
from typing import Tuple

import jax
import jax.numpy as jnp


def resize_bilinear_nhwc(x: jnp.ndarray, size: Tuple[int, int]) -> jnp.ndarray:
  """[B, H, W, C] -> [B, size[0], size[1], C], torch bilinear align_corners=False."""
  b, _, _, c = x.shape
  return jax.image.resize(x, (b, size[0], size[1], c), "bilinear",
                          antialias=False).astype(x.dtype)


def resize_nearest_nhwc(x: jnp.ndarray, size: Tuple[int, int]) -> jnp.ndarray:
  """[B, H, W, C] -> [B, size[0], size[1], C], torch mode='nearest'."""
  h, w = x.shape[1:3]
  if size[0] % h == 0 and size[1] % w == 0:  # integer factor: a cheap repeat, same result.
    return _repeat_rows_cols(x, size[0] // h, size[1] // w)
  rows = (jnp.arange(size[0]) * h) // size[0]
  cols = (jnp.arange(size[1]) * w) // size[1]
  return x[:, rows][:, :, cols]


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _repeat_rows_cols(x: jnp.ndarray, fh: int, fw: int) -> jnp.ndarray:
  """[B, H, W, C] -> [B, H * fh, W * fw, C], each pixel repeated fh x fw.

  Its gradient sums the fh * fw strided slices of the output gradient in one
  element-wise pass; autodiff's transpose of the repeat is a reduction that
  XLA:CPU fuses into the neighbouring convolution's YNNPACK call, where the
  FPN's P3 input gradient took 75 ms in the 384x1248 train step against
  37 ms alone (docs/BENCHMARKS.md, "Session 17").
  """
  return jnp.repeat(jnp.repeat(x, fh, axis=1), fw, axis=2)


def _repeat_fwd(x, fh, fw):
  return _repeat_rows_cols(x, fh, fw), None


def _repeat_bwd(fh, fw, _, g):
  return (sum(g[:, i::fh, j::fw] for i in range(fh) for j in range(fw)),)


_repeat_rows_cols.defvjp(_repeat_fwd, _repeat_bwd)
