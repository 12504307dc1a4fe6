"""mmseg base decode heads of semantic K-Net: PSPNet, DeepLabv3+ and the FCN auxiliary head.

Each returns the head's feature map (`_forward_feature` in mmseg); the
`conv_seg` classifier lives in `SemanticKernelGenerateHead`, whose filters are
the initial class kernels (video_knet_extensions.md 4.2). Channels-last; torch
names ('psp_modules/0/1/conv', 'image_pool/1/bn', 'aspp_modules/1/depthwise_conv',
'c1_bottleneck', 'sep_bottleneck/0', 'bottleneck', 'convs/0').
"""
import math
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from video_knet_jax.models import conv_module
from video_knet_jax.models import resize


def adaptive_avg_pool(x: jnp.ndarray, size: int) -> jnp.ndarray:
  """torch AdaptiveAvgPool2d(size) on [B, H, W, C]: bin i spans
  [floor(i*H/s), ceil((i+1)*H/s)) (bins overlap when H % s != 0)."""
  h, w = x.shape[1:3]
  rows = []
  for i in range(size):
    y0, y1 = (i * h) // size, math.ceil((i + 1) * h / size)
    cols = []
    for j in range(size):
      x0, x1 = (j * w) // size, math.ceil((j + 1) * w / size)
      cols.append(jnp.mean(x[:, y0:y1, x0:x1], axis=(1, 2)))
    rows.append(jnp.stack(cols, axis=1))
  return jnp.stack(rows, axis=1)           # [B, size, size, C]


class _Pooled(nn.Module):
  """torch Sequential(AdaptiveAvgPool2d(s), ConvModule 1x1): the conv is child '1'."""
  pool_size: int
  channels: int
  norm_eval: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    y = adaptive_avg_pool(x, self.pool_size)
    y = conv_module.ConvBNModule(self.channels, 1, norm_eval=self.norm_eval, dtype=self.dtype,
                                 name="1")(y, train)
    return resize.resize_bilinear_nhwc(y, x.shape[1:3])


class _PyramidPooling(nn.Module):
  """mmseg `PPM` (a ModuleList): branch i pools to pool_scales[i]; all upsampled."""
  pool_scales: Sequence[int]
  channels: int
  norm_eval: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    return [_Pooled(s, self.channels, self.norm_eval, self.dtype, name=str(i))(x, train)
            for i, s in enumerate(self.pool_scales)]


def psp_features(feats, *, channels: int = 512, pool_scales: Sequence[int] = (1, 2, 3, 6),
                 norm_eval: bool = False, dtype: Any = jnp.float32, train: bool = False):
  """PSPNet head on C5: pooled branches (1, 2, 3, 6), concat with C5, 3x3 bottleneck.

  Call inside a compact module (the layers are created in its scope, as
  `psp_modules` and `bottleneck`). feats (C2..C5) -> [B, H/8, W/8, channels].
  """
  x = feats[-1]
  pooled = _PyramidPooling(pool_scales, channels, norm_eval, dtype, name="psp_modules")(x, train)
  return conv_module.ConvBNModule(channels, 3, norm_eval=norm_eval, dtype=dtype,
                                  name="bottleneck")(jnp.concatenate([x] + pooled, -1), train)


class _SeparableASPP(nn.Module):
  """mmseg `DepthwiseSeparableASPPModule`: 1x1 ConvModule for dilation 1,
  depthwise-separable 3x3 for the others; children '0'.. in dilation order."""
  dilations: Sequence[int]
  channels: int
  norm_eval: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    outs = []
    for i, d in enumerate(self.dilations):
      if d == 1:
        layer = conv_module.ConvBNModule(self.channels, 1, norm_eval=self.norm_eval,
                                         dtype=self.dtype, name=str(i))
      else:
        layer = conv_module.DepthwiseSeparableConvModule(
            self.channels, 3, dilation=d, norm_eval=self.norm_eval, dtype=self.dtype,
            name=str(i))
      outs.append(layer(x, train))
    return outs


def sep_aspp_features(feats, *, channels: int = 512, dilations: Sequence[int] = (1, 12, 24, 36),
                      c1_channels: int = 48, norm_eval: bool = False, dtype: Any = jnp.float32,
                      train: bool = False):
  """DeepLabv3+ head (mmseg `DepthwiseSeparableASPPHead`) on C5 with the C2 decoder.

  image pool + ASPP (dilations 1, 12, 24, 36) -> concat (5 x channels) -> 3x3
  `bottleneck` (a plain ConvModule: mmseg inherits ASPPHead's, not a separable
  one) -> bilinear to C2 size, concat with `c1_bottleneck`(C2) (48) -> two
  separable 3x3 (`sep_bottleneck`) -> [B, H/4, W/4, channels]. Call inside a
  compact module (layers are created in its scope).
  """
  c2, x = feats[0], feats[-1]
  kw = dict(norm_eval=norm_eval, dtype=dtype)
  pooled = _Pooled(1, channels, name="image_pool", **kw)(x, train)
  aspp = _SeparableASPP(dilations, channels, name="aspp_modules", **kw)(x, train)
  out = conv_module.ConvBNModule(channels, 3, name="bottleneck", **kw)(
      jnp.concatenate([pooled] + aspp, axis=-1), train)
  c1 = conv_module.ConvBNModule(c1_channels, 1, name="c1_bottleneck", **kw)(c2, train)
  out = jnp.concatenate([resize.resize_bilinear_nhwc(out, c1.shape[1:3]), c1], axis=-1)
  return _SeparableBottleneck(channels, name="sep_bottleneck", **kw)(out, train)


class _SeparableBottleneck(nn.Module):
  """torch Sequential of two DepthwiseSeparableConvModule 3x3 ('0', '1')."""
  channels: int
  norm_eval: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    for i in range(2):
      x = conv_module.DepthwiseSeparableConvModule(self.channels, 3, norm_eval=self.norm_eval,
                                                   dtype=self.dtype, name=str(i))(x, train)
    return x


class FCNAuxHead(nn.Module):
  """mmseg `FCNHead` (num_convs=1, no concat) on C4: the auxiliary loss head.

  C4 [B, h, w, 1024] -> logits [B, num_classes, h, w]; Dropout2d before conv_seg.
  """
  num_classes: int
  channels: int = 256
  dropout_ratio: float = 0.1
  norm_eval: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, feats, train: bool = False):
    x = _ConvList(self.channels, self.norm_eval, self.dtype, name="convs")(feats[2], train)
    x = nn.Dropout(self.dropout_ratio, broadcast_dims=(1, 2), deterministic=not train)(x)
    x = nn.Conv(self.num_classes, (1, 1), kernel_init=nn.initializers.normal(0.01),
                dtype=self.dtype, name="conv_seg")(x)
    return jnp.transpose(x, (0, 3, 1, 2))


class _ConvList(nn.Module):
  """FCNHead `convs` (a Sequential with one 3x3 ConvModule, child '0')."""
  channels: int
  norm_eval: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    return conv_module.ConvBNModule(self.channels, 3, norm_eval=self.norm_eval,
                                    dtype=self.dtype, name="0")(x, train)


BASE_HEADS = {"psp": psp_features, "deeplabv3plus": sep_aspp_features}
