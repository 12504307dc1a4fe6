"""Per-pixel ops of the panoptic merge in forms XLA:CPU runs fast.

Hand-written because, on the [S, H, W] maps of online inference,
`jax.image.resize` computes a bilinear resize as a dense matrix product
(O(in x out) per line) and `jnp.argmax` as a variadic (value, index) reduce
that XLA:CPU does not vectorise; together they were a quarter of an online
frame's time (docs/BENCHMARKS.md, "Session 9"). Both functions here return
what the library calls return (`tests/inference/test_dense_ops.py`).
"""
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def _upsample_axis(x: jax.Array, axis: int, factor: int) -> jax.Array:
  """Bilinear (align_corners=False, edge-clamped) upsampling of one axis by an integer factor.

  Output sample f*j + r sits at input coordinate j + d_r, d_r = (2r + 1 - f) / 2f,
  so it is x[j] plus |d_r| times the step to the left (d_r < 0) or right
  neighbour; at the edges that step is 0 (torch clamps the coordinate,
  jax.image.resize renormalises the weights: the same value). Written as one
  broadcast expression over a new phase axis (no concatenation), which XLA
  fuses into a single pass.
  """
  n = x.shape[axis]
  zero = jnp.zeros((), x.dtype)
  step = (jax.lax.slice_in_dim(x, 1, n, axis=axis)
          - jax.lax.slice_in_dim(x, 0, n - 1, axis=axis))             # x[j+1] - x[j]
  no_pad = [(0, 0, 0)] * x.ndim
  to_left = jax.lax.pad(step, zero, no_pad[:axis] + [(1, 0, 0)] + no_pad[axis + 1:])
  to_right = jax.lax.pad(step, zero, no_pad[:axis] + [(0, 1, 0)] + no_pad[axis + 1:])
  d = np.array([(2 * r + 1 - factor) / (2 * factor) for r in range(factor)])
  phase_shape = [1] * (x.ndim + 1)
  phase_shape[axis + 1] = factor
  w_left = jnp.asarray(np.where(d < 0, d, 0.0).reshape(phase_shape), x.dtype)   # -|d|
  w_right = jnp.asarray(np.where(d >= 0, d, 0.0).reshape(phase_shape), x.dtype)
  e = lambda v: jnp.expand_dims(v, axis + 1)
  out = e(x) + w_left * e(to_left) + w_right * e(to_right)           # [..., n, f, ...]
  shape = list(x.shape)
  shape[axis] = n * factor
  return out.reshape(shape)


def resize_bilinear(x: jax.Array, shape: Sequence[int]) -> jax.Array:
  """`jax.image.resize(x, shape, 'bilinear', antialias=False)` (torch bilinear,
  align_corners=False); integer-factor upsampling of an axis by two-tap blends."""
  shape = tuple(int(s) for s in shape)
  if len(shape) != x.ndim:
    raise ValueError(f"resize_bilinear: shape {shape} has not the rank of {x.shape}.")
  if any(n != m and (m < n or m % n) for n, m in zip(x.shape, shape)):
    return jax.image.resize(x, shape, method="bilinear", antialias=False)
  for axis, (n, m) in enumerate(zip(x.shape, shape)):
    if m != n:
      x = _upsample_axis(x, axis, m // n)
  return x


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
