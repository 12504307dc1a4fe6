"""Sums and maxima over a leading axis, by hand on XLA:CPU only.

XLA:CPU (jax 0.10) hands a reduce over any axis but the last to YNNPACK,
which reads it at ~1 GB/s (34 ms for the rank loss's max over
[1, 100, 192, 624]; 26 ms for a folded BN scale's gradient over layer4's
[1, 1, 1024, 2048]; the rank loss's softmax CE fwd + bwd takes 58 ms with
reduces, 9 ms with a product: docs/BENCHMARKS.md, "Session 17"). On the CPU
a sum is a product with ones and a maximum a loop over the axis; other
backends keep jnp.sum / jnp.max (on a TPU a HIGHEST product would be a
multi-pass bf16 matmul).
"""
import jax
import jax.numpy as jnp


def by_hand() -> bool:
  """Whether leading-axis reductions take the products and loops below."""
  return jax.default_backend() == "cpu"


def sum_over_axis(x: jax.Array, axis: int) -> jax.Array:
  """jnp.sum(x, axis); on the CPU an axis before the last as a product with ones.

  HIGHEST: exact products with ones wherever XLA would round f32 operands down.
  """
  axis = axis % x.ndim
  if axis == x.ndim - 1 or not by_hand():
    return jnp.sum(x, axis=axis)
  ones = jnp.ones((x.shape[axis],), x.dtype)   # on the left: x keeps its layout.
  return jax.lax.dot_general(ones, x, (((0,), (axis,)), ((), ())),
                             precision=jax.lax.Precision.HIGHEST)


def sum_rows(x: jax.Array) -> jax.Array:
  """[..., C] summed over every axis but the last -> [C]."""
  return sum_over_axis(x.reshape(-1, x.shape[-1]), 0)


def max_over_axis(x: jax.Array, axis: int) -> jax.Array:
  """jnp.max(x, axis); on the CPU an axis before the last by a loop.

  A loop of element-wise maximums reads each plane once (a chain of maximums
  written out would be fused into every element of its consumer, C times
  the work).
  """
  axis = axis % x.ndim
  if axis == x.ndim - 1 or not by_hand():
    return jnp.max(x, axis=axis)
  first = jax.lax.index_in_dim(x, 0, axis, keepdims=False)
  return jax.lax.fori_loop(
      1, x.shape[axis],
      lambda i, peak: jnp.maximum(
          peak, jax.lax.dynamic_index_in_dim(x, i, axis, keepdims=False)),
      first)
