"""Per-pixel ops of the panoptic merge in forms XLA:CPU runs fast.

Hand-written because, on the [S, H, W] maps of online inference,
`jax.image.resize` computes a bilinear resize as a dense matrix product
(O(in x out) per line) and `jnp.argmax` as a variadic (value, index) reduce
that XLA:CPU does not vectorise; together they were a quarter of an online
frame's time (docs/BENCHMARKS.md, "Session 9"). Both functions here return
what the library calls return (`tests/inference/test_dense_ops.py`).

Integer-factor upsampling works on *phased* maps [..., A, B, h, w], where
y[a, b, i, j] is image pixel (A*i + a, B*j + b): every output phase is a
blend of whole contiguous planes, which XLA:CPU vectorises (the interleaved
[h*A, w*B] layout cost it about twice the time per pixel in the merge,
docs/BENCHMARKS.md "Session 14"). Per-pixel work that follows (sigmoid,
argmax, counts) runs on the phased map as well; `interleave_phases` lays out
the final integer maps once.
"""
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def split_phases(x: jax.Array, rows: int, cols: int) -> jax.Array:
  """[..., rows * h, cols * w] -> phased [..., rows, cols, h, w]: y[a, b, i, j] = x[rows*i + a, cols*j + b]."""
  *lead, height, width = x.shape
  if height % rows or width % cols:
    raise ValueError(f"split_phases: {x.shape} is not a multiple of ({rows}, {cols}).")
  nd = len(lead)
  y = x.reshape(*lead, height // rows, rows, width // cols, cols)
  return y.transpose(*range(nd), nd + 1, nd + 3, nd, nd + 2)


def interleave_phases(y: jax.Array) -> jax.Array:
  """Phased [..., A, B, h, w] -> [..., A * h, B * w] (inverse of `split_phases`)."""
  *lead, rows, cols, height, width = y.shape
  nd = len(lead)
  return y.transpose(*range(nd), nd + 2, nd, nd + 3, nd + 1).reshape(
      *lead, height * rows, width * cols)


def _neighbours(y: jax.Array, phase_axis: int, grid_axis: int):
  """The previous and next sample of a phased map along one image axis, edge-clamped.

  Sample (i, a) of A phases is image line A*i + a: its predecessor is phase
  a - 1 of cell i, or phase A - 1 of cell i - 1 for a = 0 (line 0 is its own).
  """
  num_phases, n = y.shape[phase_axis], y.shape[grid_axis]
  part = lambda x, start, stop, axis: jax.lax.slice_in_dim(x, start, stop, axis=axis)
  first, last = part(y, 0, 1, phase_axis), part(y, num_phases - 1, num_phases, phase_axis)
  prev_of_first = jnp.concatenate([part(first, 0, 1, grid_axis), part(last, 0, n - 1, grid_axis)],
                                  grid_axis)
  next_of_last = jnp.concatenate([part(first, 1, n, grid_axis), part(last, n - 1, n, grid_axis)],
                                 grid_axis)
  prev = jnp.concatenate([prev_of_first, part(y, 0, num_phases - 1, phase_axis)], phase_axis)
  nxt = jnp.concatenate([part(y, 1, num_phases, phase_axis), next_of_last], phase_axis)
  return prev, nxt


def _upsample_phased_axis(y: jax.Array, factor: int, phase_axis: int, grid_axis: int):
  """Bilinear x factor (align_corners=False) along one image axis of a phased map.

  Output line f*l + r sits at input coordinate l + d_r, d_r = (2r + 1 - f) / 2f:
  it is y[l] plus |d_r| times the step to the previous (d_r < 0) or next line;
  at the edges that step is 0 (torch clamps the coordinate, jax.image.resize
  renormalises the weights: the same value). Sub-phase r of phase a becomes
  phase f*a + r.
  """
  if factor == 1:
    return y
  prev, nxt = _neighbours(y, phase_axis, grid_axis)
  outs = []
  for r in range(factor):
    d = (2 * r + 1 - factor) / (2 * factor)
    outs.append(y + d * (y - prev) if d < 0 else y + d * (nxt - y))
  shape = list(y.shape)
  shape[phase_axis] *= factor
  return jnp.stack(outs, axis=phase_axis + 1).reshape(shape)


def upsample_phased(y: jax.Array, rows: int, cols: int) -> jax.Array:
  """Bilinear upsampling by integer factors of a phased map [..., A, B, h, w]
  -> [..., rows * A, cols * B, h, w] (rows first, then columns)."""
  y = _upsample_phased_axis(y, rows, y.ndim - 4, y.ndim - 2)
  return _upsample_phased_axis(y, cols, y.ndim - 3, y.ndim - 1)


def resize_bilinear(x: jax.Array, shape: Sequence[int]) -> jax.Array:
  """`jax.image.resize(x, shape, 'bilinear', antialias=False)` (torch bilinear,
  align_corners=False); integer-factor upsampling of the last two axes by
  two-tap blends on phase planes (`upsample_phased`)."""
  shape = tuple(int(s) for s in shape)
  if len(shape) != x.ndim:
    raise ValueError(f"resize_bilinear: shape {shape} has not the rank of {x.shape}.")
  (h, w), (out_h, out_w) = x.shape[-2:], shape[-2:]
  if (shape[:-2] != x.shape[:-2] or out_h < h or out_w < w or out_h % h or out_w % w):
    return jax.image.resize(x, shape, method="bilinear", antialias=False)
  return interleave_phases(upsample_phased(x[..., None, None, :, :], out_h // h, out_w // w))


def argmax_first(x: jax.Array) -> jax.Array:
  """`jnp.argmax(x, axis=0)` for NaN-free x [K, ...] (first index of the maximum).

  A scan over the K slices keeping the running (max, index) elementwise: each
  step is one vectorised pass over [...]; strict `>` keeps the first index on ties.
  """
  def keep_larger(carry, slice_k):
    best, index, k = carry
    larger = slice_k > best
    return (jnp.where(larger, slice_k, best), jnp.where(larger, k, index), k + 1), None

  init = (x[0], jnp.zeros(x.shape[1:], jnp.int32), jnp.ones((), jnp.int32))
  (_, index, _), _ = jax.lax.scan(keep_larger, init, x[1:])
  return index


def argmax_first_streamed(slice_fn, xs, unroll: int = 1):
  """`argmax_first` of the [K, ...] stack of `slice_fn(x_k)` without building it.

  xs: a pytree of arrays with a leading axis K; slice_fn(x_k) -> (value [...],
  aux). One slice is computed per scan step and folded into the running
  (max, index) (first index on ties), so a [K, H, W] stack of full-size maps is
  never stored. `unroll`: slices per loop iteration (`lax.scan`'s). Returns
  (index [...] int32, aux stacked over K).
  """
  def step(carry, x_k):
    best, index, k = carry
    value, aux = slice_fn(x_k)
    larger = value > best
    return (jnp.where(larger, value, best), jnp.where(larger, k, index), k + 1), aux

  first, _ = jax.eval_shape(slice_fn, jax.tree.map(lambda a: a[0], xs))
  init = (jnp.full(first.shape, -jnp.inf, first.dtype), jnp.zeros(first.shape, jnp.int32),
          jnp.zeros((), jnp.int32))
  (_, index, _), aux = jax.lax.scan(step, init, xs, unroll=unroll)
  return index, aux
