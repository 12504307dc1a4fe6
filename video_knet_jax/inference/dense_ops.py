"""Per-pixel ops of the panoptic merge in forms XLA:CPU runs fast.

Hand-written because, on the [S, H, W] maps of online inference,
`jax.image.resize` computes a bilinear resize as a dense matrix product
(O(in x out) per line) and `jnp.argmax` as a variadic (value, index) reduce
that XLA:CPU does not vectorise; together they were a quarter of an online
frame's time (docs/BENCHMARKS.md, "Session 9"). Both functions here return
what the library calls return (`tests/inference/test_dense_ops.py`).

Integer-factor upsampling returns the output's *phase planes*: plane (a, b)
of a (rows, cols) upsampling holds output pixels (rows*i + a, cols*j + b),
each a blend of shifted slices of the edge-padded input. Per-pixel work that
follows (sigmoid, argmax, counts) runs plane by plane, and only the final
integer map is interleaved: XLA:CPU fuses a plane's blend into its consumer,
where the interleaved [h*A, w*B] layout cost about three times the time per
pixel in the merge (docs/BENCHMARKS.md "Session 14").
"""
from typing import Sequence

import jax
import jax.numpy as jnp


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


def _blend_phases(padded: jax.Array, factor: int, axis: int) -> list:
  """Bilinear x factor (align_corners=False) along `axis` of an array edge-padded
  by one sample on both sides of that axis: the `factor` phases, unpadded.

  Output line f*l + r sits at input coordinate l + d_r, d_r = (2r + 1 - f) / 2f:
  it is y[l] plus |d_r| times the step to the previous (d_r < 0) or next line;
  at the edges that step is 0 (the padding repeats the edge: torch clamps the
  coordinate, jax.image.resize renormalises the weights, the same value).
  """
  n = padded.shape[axis] - 2
  line = lambda start: jax.lax.slice_in_dim(padded, start, start + n, axis=axis)
  y, prev, nxt = line(1), line(0), line(2)
  if factor == 1:
    return [y]
  phases = []
  for r in range(factor):
    d = (2 * r + 1 - factor) / (2 * factor)
    phases.append(y + d * (y - prev) if d < 0 else y + d * (nxt - y))
  return phases


def upsample_planes(x: jax.Array, rows: int, cols: int) -> list:
  """Bilinear upsampling of [..., h, w] by integer factors (rows first, then
  columns) as its rows * cols phase planes [..., h, w], row-major: plane
  a * cols + b holds output pixels (rows*i + a, cols*j + b)."""
  pad = [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)]
  padded = jnp.pad(x, pad, mode="edge")
  return [plane for row_phase in _blend_phases(padded, rows, x.ndim - 2)
          for plane in _blend_phases(row_phase, cols, x.ndim - 1)]


def phase_factors(in_hw: Sequence[int], out_hw: Sequence[int]) -> tuple:
  """(rows, cols) integer upsampling factors from in_hw to out_hw, or (1, 1)
  when out_hw is no integer multiple (the resized map is then one plane)."""
  (h, w), (out_h, out_w) = in_hw, out_hw
  if out_h >= h and out_w >= w and out_h % h == 0 and out_w % w == 0:
    return out_h // h, out_w // w
  return 1, 1


def resize_planes(x: jax.Array, out_hw: Sequence[int]) -> list:
  """Bilinear resize of the last two axes of x to out_hw as the
  `phase_factors(...)` phase planes (`upsample_planes`); one plane, the
  jax.image.resize map, when the factors are not integers."""
  rows, cols = phase_factors(x.shape[-2:], out_hw)
  if (x.shape[-2] * rows, x.shape[-1] * cols) != tuple(out_hw):
    return [jax.image.resize(x, x.shape[:-2] + tuple(out_hw), method="bilinear",
                             antialias=False)]
  return upsample_planes(x, rows, cols)


def stack_planes(planes: Sequence[jax.Array], rows: int, cols: int) -> jax.Array:
  """rows * cols planes [..., h, w] -> phased [..., rows, cols, h, w]."""
  stacked = jnp.stack(planes, axis=-3)
  return stacked.reshape(*stacked.shape[:-3], rows, cols, *stacked.shape[-2:])


def resize_bilinear(x: jax.Array, shape: Sequence[int]) -> jax.Array:
  """`jax.image.resize(x, shape, 'bilinear', antialias=False)` (torch bilinear,
  align_corners=False); integer-factor upsampling of the last two axes by
  two-tap blends on phase planes (`upsample_planes`)."""
  shape = tuple(int(s) for s in shape)
  if len(shape) != x.ndim:
    raise ValueError(f"resize_bilinear: shape {shape} has not the rank of {x.shape}.")
  if shape[:-2] != x.shape[:-2]:
    return jax.image.resize(x, shape, method="bilinear", antialias=False)
  rows, cols = phase_factors(x.shape[-2:], shape[-2:])
  return interleave_phases(stack_planes(resize_planes(x, shape[-2:]), rows, cols))


def argmax_first_streamed(slice_fn, xs, group: int = 1):
  """`jnp.argmax(stack, axis=0)` of the [K, ...] stack of `slice_fn(x_k)`
  without building the stack.

  xs: a pytree of arrays with a leading axis K; slice_fn(x_k) -> (value, aux),
  value an array or a pytree of arrays (e.g. phase planes), each folded
  elementwise. `group` slices are computed per loop step and folded into the
  running (max, index) in one pass (first index on ties), so a [K, H, W]
  stack of full-size maps is never stored and the running maps are read and
  written once per group; K is padded to a multiple of `group` with slices
  whose value is -inf. Returns (index, like value, int32; aux stacked over K).
  """
  num = jax.tree.leaves(xs)[0].shape[0]
  steps = -(-num // group)
  pad_to = lambda a: jnp.concatenate([a, jnp.zeros((steps * group - num,) + a.shape[1:],
                                                   a.dtype)])
  grouped = jax.tree.map(lambda a: pad_to(a).reshape(steps, group, *a.shape[1:]), xs)

  def step(carry, x_group):
    best, index, k = carry
    auxes = []
    for j in range(group):
      value, aux = slice_fn(jax.tree.map(lambda a: a[j], x_group))
      real = k + j < num
      value = jax.tree.map(lambda v: jnp.where(real, v, -jnp.inf), value)
      larger = jax.tree.map(lambda v, b: v > b, value, best)
      best = jax.tree.map(lambda l, v, b: jnp.where(l, v, b), larger, value, best)
      index = jax.tree.map(lambda l, i: jnp.where(l, k + j, i), larger, index)
      auxes.append(aux)
    return (best, index, k + group), jax.tree.map(lambda *a: jnp.stack(a), *auxes)

  first, _ = jax.eval_shape(slice_fn, jax.tree.map(lambda a: a[0], xs))
  init = (jax.tree.map(lambda f: jnp.full(f.shape, -jnp.inf, f.dtype), first),
          jax.tree.map(lambda f: jnp.zeros(f.shape, jnp.int32), first),
          jnp.zeros((), jnp.int32))
  (_, index, _), aux = jax.lax.scan(step, init, grouped)
  aux = jax.tree.map(lambda a: a.reshape(steps * group, *a.shape[2:])[:num], aux)
  return index, aux
