"""A BatchNorm with frozen statistics folded into the convolution before it.

conv(x, k) -> BN with running statistics equals conv(x, k * f) + (bias - mean * f)
with f = scale / sqrt(var + eps). Folded, the backward pass needs neither the
convolution's output nor a pass over it for the BN scale's gradient, but
scales the kernel (passes over [k, k, Ci, Co] instead of [B, H, W, Co]), so
it is taken where the output has more pixels than the kernel has taps per
output channel (`folding_pays`). R50 KITTI-STEP train step: 0.967x the time
at 384x1248 (temporary memory 2.74 -> 2.37 GiB); at 192x640 folding every
BN lost, folding where it pays is 0.976x of that (docs/BENCHMARKS.md,
"Session 19").

The variables are `nn.Conv`'s and `nn.BatchNorm`'s (params kernel; scale and
bias; batch_stats mean and var), so checkpoints and converters see no change.
"""
from typing import Any, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from video_knet_jax.models import fast_conv, reductions


@jax.custom_vjp
def scale_output_channels(kernel: jax.Array, factor: jax.Array) -> jax.Array:
  """kernel [..., Co] * factor [Co].

  A custom VJP only so that factor's gradient is `reductions.sum_rows`: as a
  reduce over the leading axes XLA:CPU took 26 ms for layer4's [1, 1, 1024, 2048].
  """
  return kernel * factor


def _scale_fwd(kernel, factor):
  return kernel * factor, (kernel, factor)


def _scale_bwd(residuals, grad):
  kernel, factor = residuals
  return grad * factor, reductions.sum_rows(grad * kernel)


scale_output_channels.defvjp(_scale_fwd, _scale_bwd)


@jax.custom_vjp
def add_channel_shift(y: jax.Array, shift: jax.Array) -> jax.Array:
  """y [..., C] + shift [C]; shift's gradient (dy over B, H, W) by `reductions.sum_rows`."""
  return y + shift


def _shift_fwd(y, shift):
  return y + shift, None


def _shift_bwd(_, grad):
  return grad, reductions.sum_rows(grad)


add_channel_shift.defvjp(_shift_fwd, _shift_bwd)


class FrozenBatchNormAffine(nn.Module):
  """`nn.BatchNorm`'s variables, returned as the per-channel map x * factor + shift."""
  features: int
  epsilon: float = 1e-5

  @nn.compact
  def __call__(self) -> Tuple[jax.Array, jax.Array]:  # -> factor [C], shift [C]
    shape = (self.features,)
    mean = self.variable("batch_stats", "mean", jnp.zeros, shape, jnp.float32).value
    var = self.variable("batch_stats", "var", jnp.ones, shape, jnp.float32).value
    scale = self.param("scale", nn.initializers.ones, shape, jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, shape, jnp.float32)
    factor = scale * lax.rsqrt(var + self.epsilon)
    return factor, bias - mean * factor


class ScaledConv(nn.Module):
  """Bias-free square conv with its kernel's output channels scaled: conv(x, k * factor).

  Same parameter ("kernel", HWIO) and arguments as the `nn.Conv` it replaces.
  """
  features: int
  kernel_size: int
  stride: int = 1
  padding: int = 0
  dilation: int = 1
  kernel_init: Any = nn.initializers.lecun_normal()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, factor):  # x [B, H, W, Ci], factor [Co] -> [B, H', W', Co]
    k = self.kernel_size
    kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features),
                        jnp.float32)
    kernel = scale_output_channels(kernel, factor).astype(self.dtype)
    return fast_conv.conv_general_dilated(
        x.astype(self.dtype), kernel, (self.stride, self.stride),
        ((self.padding, self.padding),) * 2, rhs_dilation=(self.dilation, self.dilation),
        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def folding_pays(x_shape, kernel_size: int, stride: int = 1, padding: int = 0,
                 dilation: int = 1) -> bool:
  """Whether to fold: the output has at least as many pixels as a kernel column has taps.

  Folding saves passes over the [B, H', W', Co] output and costs passes over the
  [k, k, Ci, Co] kernel (scaling it forward, two products backward).
  """
  if not all(isinstance(d, int) for d in x_shape):
    return False   # Symbolic sizes (shape-polymorphic export): conv -> BN unfolded.
  b, h, w, ci = x_shape
  span = dilation * (kernel_size - 1) + 1
  out_h = (h + 2 * padding - span) // stride + 1
  out_w = (w + 2 * padding - span) // stride + 1
  return b * out_h * out_w >= kernel_size * kernel_size * ci


def conv_frozen_bn(x, features: int, kernel_size: int, *, stride: int = 1, padding: int = 0,
                   dilation: int = 1, epsilon: float = 1e-5,
                   kernel_init: Any = nn.initializers.lecun_normal(), dtype: Any = jnp.float32,
                   conv_name: str, bn_name: str):
  """conv (no bias, child `conv_name`) -> frozen BN (child `bn_name`), folded.

  Call inside a compact module; x [B, H, W, Ci] -> [B, H', W', features].
  """
  factor, shift = FrozenBatchNormAffine(features, epsilon, name=bn_name)()
  y = ScaledConv(features, kernel_size, stride, padding, dilation, kernel_init, dtype,
                 name=conv_name)(x, factor)
  return add_channel_shift(y, shift.astype(y.dtype))
