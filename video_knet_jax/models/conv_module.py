"""mmcv `ConvModule`: conv -> optional GroupNorm -> optional ReLU.

Children are named 'conv' and 'gn' as in the torch state_dict. Padding is
explicit and symmetric (torch semantics; 'SAME' differs for stride 2).
"""
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from video_knet_jax.models import fast_conv, reductions

NORM_EPS = 1e-5  # torch GroupNorm / LayerNorm / BatchNorm default.


def normal_init(std: float) -> Callable[..., Any]:
  """torch `nn.init.normal_(w, 0, std)`."""
  return nn.initializers.normal(stddev=std)


class GroupNorm(nn.Module):
  """`nn.GroupNorm` on [B, H, W, C] (same params 'scale' and 'bias', same result to ~2e-6).

  By hand because XLA:CPU hands flax's reduces over (H, W, C/G) to slow
  YNNPACK reductions; here the sums over pixels are `reductions.sum_over_axis`
  (products with ones on the CPU; fwd + bwd of [2, 96, 312, 256]: 32 against
  36 ms).
  """
  num_groups: int
  epsilon: float = NORM_EPS
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    b, c = x.shape[0], x.shape[-1]
    size = c // self.num_groups
    scale = self.param("scale", nn.initializers.ones, (c,), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (c,), jnp.float32)
    x32 = x.astype(jnp.float32)
    rows = x32.reshape(b, -1, c)                                   # [B, P, C]
    sums = lambda r: reductions.sum_over_axis(r, 1)               # [B, C]
    count = rows.shape[1] * size
    mean = sums(rows).reshape(b, self.num_groups, size).sum(-1) / count     # [B, G]
    mean_sq = sums(rows * rows).reshape(b, self.num_groups, size).sum(-1) / count
    var = jnp.maximum(mean_sq - mean * mean, 0.0)
    per_channel = lambda v: jnp.repeat(v, size, axis=-1).reshape(b, *(1,) * (x.ndim - 2), c)
    mul = per_channel(jax.lax.rsqrt(var + self.epsilon)) * scale
    return ((x32 - per_channel(mean)) * mul + bias).astype(self.dtype)


class ConvModule(nn.Module):
  """Conv (+GN) (+ReLU), NHWC in and out.

  Attributes:
    features: output channels.
    kernel_size: square kernel size.
    stride: square stride.
    padding: symmetric padding; defaults to kernel_size // 2.
    use_bias: conv bias (mmcv drops it when a norm follows).
    num_groups: GroupNorm groups; None = no norm.
    activation: apply ReLU at the end.
    kernel_init: conv kernel initializer (HWIO).
    dtype: compute dtype.
  """
  features: int
  kernel_size: int = 1
  stride: int = 1
  padding: Optional[int] = None
  use_bias: bool = False
  num_groups: Optional[int] = None
  activation: bool = True
  kernel_init: Callable[..., Any] = nn.initializers.lecun_normal()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):  # [B, H, W, Cin] -> [B, H', W', features]
    pad = self.kernel_size // 2 if self.padding is None else self.padding
    x = nn.Conv(self.features, (self.kernel_size, self.kernel_size),
                strides=(self.stride, self.stride), padding=((pad, pad), (pad, pad)),
                use_bias=self.use_bias, kernel_init=self.kernel_init,
                dtype=self.dtype, name="conv",
                conv_general_dilated=fast_conv.conv_general_dilated)(x)
    if self.num_groups is not None:
      if self.features % self.num_groups:
        raise ValueError(f"ConvModule {self.name}: {self.features} channels are not "
                         f"divisible by num_groups={self.num_groups}.")
      x = GroupNorm(self.num_groups, epsilon=NORM_EPS, dtype=self.dtype, name="gn")(x)
    if self.activation:
      x = nn.relu(x)
    return x


class ConvBNModule(nn.Module):
  """mmcv `ConvModule` with BatchNorm (mmseg heads): conv -> BN -> optional ReLU.

  Children 'conv' (no bias) and 'bn' (statistics in `batch_stats`), as in the
  torch state_dict. Padding is explicit and symmetric.

  Attributes:
    features: output channels.
    kernel_size: square kernel size.
    dilation: kernel dilation; padding defaults to dilation * (kernel_size // 2).
    groups: feature groups (in_channels for a depthwise conv).
    activation: apply ReLU at the end.
    norm_eval: always use the running statistics.
    dtype: compute dtype.
  """
  features: int
  kernel_size: int = 1
  dilation: int = 1
  groups: int = 1
  activation: bool = True
  norm_eval: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):  # [B, H, W, Cin] -> [B, H, W, features]
    pad = self.dilation * (self.kernel_size // 2)
    x = nn.Conv(self.features, (self.kernel_size, self.kernel_size),
                padding=((pad, pad), (pad, pad)), kernel_dilation=(self.dilation,) * 2,
                feature_group_count=self.groups, use_bias=False,
                kernel_init=nn.initializers.variance_scaling(2.0, "fan_out", "normal"),
                dtype=self.dtype, name="conv",
                conv_general_dilated=fast_conv.conv_general_dilated)(x)
    x = nn.BatchNorm(use_running_average=self.norm_eval or not train, momentum=0.9,
                     epsilon=NORM_EPS, dtype=self.dtype, name="bn")(x)
    return nn.relu(x) if self.activation else x


class DepthwiseSeparableConvModule(nn.Module):
  """mmcv `DepthwiseSeparableConvModule`: depthwise kxk ConvBN+ReLU, then 1x1 ConvBN+ReLU.

  Attributes: features, kernel_size, dilation, norm_eval, dtype as ConvBNModule.
  """
  features: int
  kernel_size: int = 3
  dilation: int = 1
  norm_eval: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = ConvBNModule(x.shape[-1], self.kernel_size, dilation=self.dilation, groups=x.shape[-1],
                     norm_eval=self.norm_eval, dtype=self.dtype, name="depthwise_conv")(x, train)
    return ConvBNModule(self.features, 1, norm_eval=self.norm_eval, dtype=self.dtype,
                        name="pointwise_conv")(x, train)
