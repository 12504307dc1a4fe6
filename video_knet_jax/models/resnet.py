"""mmdet/torchvision ResNet (style='pytorch': stride on the 3x3 conv), NHWC.

Names mirror the torch state_dict: conv1, bn1, layer1..layer4 / '0'.. /
conv1..3, bn1..3, downsample/'0' (conv) + '1' (BN). The mmseg `ResNetV1c`
variant (`deep_stem`) replaces conv1/bn1 by stem/{0,1,3,4,6,7} (three 3x3
conv + BN); dilated variants (`strides`, `dilations`, `contract_dilation`) keep
stride 8 for the semantic decode heads (video_knet_extensions.md 4.2). BatchNorm statistics live
in the `batch_stats` collection; with `norm_eval` they are frozen (the
original trains with `norm_eval=True`) and then folded into the conv
before it where that pays (`frozen_bn`; the deep stem keeps plain BN layers).
Frozen *parameters* are handled by
the optimizer through `frozen_param_filter`.
"""
import functools
from typing import Any, Callable, Sequence, Tuple

import flax.linen as nn
import jax.numpy as jnp

from video_knet_jax.models import containers
from video_knet_jax.models import fast_conv
from video_knet_jax.models import frozen_bn

BN_EPS = 1e-5
BN_MOMENTUM = 0.9      # torch momentum 0.1.
EXPANSION = 4          # Bottleneck output = 4 x width.

# He (kaiming) normal, fan_out, as mmdet/torchvision initialise ResNet convs.
he_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def _conv(features: int, kernel: int, stride: int, pad: int, dtype: Any,
          name: str, dilation: int = 1) -> nn.Conv:
  return nn.Conv(features, (kernel, kernel), strides=(stride, stride),
                 padding=((pad, pad), (pad, pad)), kernel_dilation=(dilation, dilation),
                 use_bias=False, kernel_init=he_init, dtype=dtype, name=name,
                 conv_general_dilated=fast_conv.conv_general_dilated)


def _bn(use_running_average: bool, dtype: Any, name: str) -> nn.BatchNorm:
  return nn.BatchNorm(use_running_average=use_running_average, momentum=BN_MOMENTUM,
                      epsilon=BN_EPS, dtype=dtype, name=name)


def _conv_bn(x, features: int, kernel: int, stride: int, pad: int, *, frozen: bool,
             train: bool, dtype: Any, conv_name: str, bn_name: str, dilation: int = 1):
  """conv (no bias) -> BatchNorm; frozen statistics are folded into the conv where that pays."""
  if frozen and frozen_bn.folding_pays(x.shape, kernel, stride, pad, dilation):
    return frozen_bn.conv_frozen_bn(
        x, features, kernel, stride=stride, padding=pad, dilation=dilation, epsilon=BN_EPS,
        kernel_init=he_init, dtype=dtype, conv_name=conv_name, bn_name=bn_name)
  y = _conv(features, kernel, stride, pad, dtype, conv_name, dilation)(x)
  return _bn(frozen or not train, dtype, bn_name)(y)


class Bottleneck(nn.Module):
  """1x1 -> 3x3 (stride, dilation) -> 1x1 with a projection shortcut on block 0."""
  width: int
  stride: int = 1
  dilation: int = 1
  with_downsample: bool = False
  frozen_bn: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):  # [B, H, W, C] -> [B, H/s, W/s, 4*width]
    conv_bn = functools.partial(_conv_bn, frozen=self.frozen_bn or not train, train=train,
                                dtype=self.dtype)
    out = nn.relu(conv_bn(x, self.width, 1, 1, 0, conv_name="conv1", bn_name="bn1"))
    out = nn.relu(conv_bn(out, self.width, 3, self.stride, self.dilation, conv_name="conv2",
                          bn_name="bn2", dilation=self.dilation))
    out = conv_bn(out, self.width * EXPANSION, 1, 1, 0, conv_name="conv3", bn_name="bn3")
    if self.with_downsample:
      x = _Downsample(self.width * EXPANSION, self.stride, self.frozen_bn, self.dtype,
                      name="downsample")(x, train)
    return nn.relu(out + x)


class _Downsample(nn.Module):
  """The projection shortcut: children '0' (1x1 conv, stride) and '1' (BatchNorm)."""
  features: int
  stride: int
  frozen_bn: bool
  dtype: Any

  @nn.compact
  def __call__(self, x, train: bool = False):
    return _conv_bn(x, self.features, 1, self.stride, 0, frozen=self.frozen_bn or not train,
                    train=train, dtype=self.dtype, conv_name="0", bn_name="1")


class ResLayer(nn.Module):
  """One ResNet stage: blocks '0'..'n-1'; block 0 strides and projects.

  `first_dilation` is block 0's dilation (mmseg `contract_dilation` halves it;
  torchvision's `replace_stride_with_dilation` uses the previous stage's).
  """
  width: int
  num_blocks: int
  stride: int
  frozen_bn: bool = True
  dilation: int = 1
  first_dilation: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    for i in range(self.num_blocks):
      x = Bottleneck(self.width, stride=self.stride if i == 0 else 1,
                     dilation=self.first_dilation if i == 0 else self.dilation,
                     with_downsample=(i == 0),
                     frozen_bn=self.frozen_bn, dtype=self.dtype, name=str(i))(x, train)
    return x


def _max_pool_3x3_s2(x):
  """torch MaxPool2d(3, 2, padding=1) (-inf padding) on [B, H, W, C].

  Written as the max of nine strided slices rather than `nn.max_pool`: the
  values are identical, and on CPU the gradient of XLA's reduce-window (a
  select-and-scatter over index tuples) was among the slowest ops of a small
  model's step in an XLA profile.
  """
  out_h, out_w = (x.shape[1] - 1) // 2 + 1, (x.shape[2] - 1) // 2 + 1
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)),
                   constant_values=-jnp.inf)
  out = None
  for dy in range(3):
    for dx in range(3):
      window = padded[:, dy:dy + 2 * out_h - 1:2, dx:dx + 2 * out_w - 1:2]
      out = window if out is None else jnp.maximum(out, window)
  return out


class ResNet(nn.Module):
  """Bottleneck ResNet returning (C2, C3, C4, C5) at strides 4, 8, 16, 32.

  Attributes:
    stage_blocks: blocks per stage, (3, 4, 6, 3) for ResNet-50.
    base_width: stem / layer1 width (64); doubles every stage.
    norm_eval: freeze BatchNorm statistics (use running averages always).
    frozen_stages: stem + layer1..k also keep their statistics frozen (mmdet puts
      frozen stages in eval mode); their params are frozen by the optimizer.
    deep_stem: mmseg ResNetV1c stem (3x3 convs 3->w/2 (s2), w/2->w/2, w/2->w).
    strides, dilations: per stage; (1, 2, 1, 1) and (1, 1, 2, 4) give the
      output-stride-8 "d8" backbone of the decode heads.
    contract_dilation: block 0 of a dilated stage uses half the dilation
      (mmseg; the same as torchvision's dilated ResNet for (1, 1, 2, 4)).
    dtype: compute dtype.
  """
  stage_blocks: Sequence[int] = (3, 4, 6, 3)
  base_width: int = 64
  norm_eval: bool = True
  frozen_stages: int = -1
  deep_stem: bool = False
  strides: Sequence[int] = (1, 2, 2, 2)
  dilations: Sequence[int] = (1, 1, 1, 1)
  contract_dilation: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False) -> Tuple[jnp.ndarray, ...]:
    # x: [B, H, W, 3] -> C2 [B, H/4, W/4, 4w], ..., C5 [B, H/32, W/32, 32w]
    ura = self.norm_eval or self.frozen_stages >= 0 or not train
    x = x.astype(self.dtype)
    if self.deep_stem:
      half = self.base_width // 2
      conv = lambda n, s: functools.partial(
          nn.Conv, n, (3, 3), strides=(s, s), padding=((1, 1), (1, 1)), use_bias=False,
          kernel_init=he_init, dtype=self.dtype,
          conv_general_dilated=fast_conv.conv_general_dilated)
      bn = functools.partial(nn.BatchNorm, use_running_average=ura, momentum=BN_MOMENTUM,
                             epsilon=BN_EPS, dtype=self.dtype)
      x = containers.Sequential(layers=(
          conv(half, 2), bn, nn.relu, conv(half, 1), bn, nn.relu,
          conv(self.base_width, 1), bn, nn.relu), name="stem")(x)
    else:
      x = nn.relu(_conv_bn(x, self.base_width, 7, 2, 3, frozen=ura, train=train,
                           dtype=self.dtype, conv_name="conv1", bn_name="bn1"))
    x = _max_pool_3x3_s2(x)
    outs = []
    for i, n in enumerate(self.stage_blocks):
      dilation = self.dilations[i]
      first = dilation // 2 if self.contract_dilation and dilation > 1 else dilation
      x = ResLayer(self.base_width * 2**i, n, stride=self.strides[i],
                   frozen_bn=self.norm_eval or i + 1 <= self.frozen_stages, dilation=dilation,
                   first_dilation=first, dtype=self.dtype,
                   name=f"layer{i + 1}")(x, train)
      outs.append(x)
    return tuple(outs)

  @property
  def out_channels(self) -> Tuple[int, ...]:
    return tuple(self.base_width * 2**i * EXPANSION for i in range(len(self.stage_blocks)))


def build_resnet(backbone_config, dtype: Any = jnp.float32) -> ResNet:
  """ResNet from `config.model.backbone`."""
  if backbone_config.name != "resnet":
    raise ValueError(f"config.model.backbone.name={backbone_config.name!r}: only 'resnet' "
                     "is implemented.")
  extra = {}
  for field in ("deep_stem", "contract_dilation"):
    if field in backbone_config:
      extra[field] = bool(backbone_config[field])
  for field in ("strides", "dilations"):
    if field in backbone_config:
      extra[field] = tuple(int(v) for v in backbone_config[field])
  return ResNet(stage_blocks=tuple(backbone_config.stage_blocks),
                base_width=backbone_config.base_width,
                norm_eval=backbone_config.norm_eval,
                frozen_stages=backbone_config.frozen_stages, dtype=dtype, **extra)


def frozen_param_filter(config) -> Callable[[Tuple[str, ...]], bool]:
  """Returns `is_frozen(path)` for the params of the stem + layer1..frozen_stages.

  `config` is the full config or `config.model`; `path` is a tuple of keys of
  the full params tree (e.g. ('backbone', 'layer1', '0', 'conv1', 'kernel')) or
  a '/'-joined string. mmdet `frozen_stages=k` freezes stem + layers 1..k;
  -1 freezes nothing.
  """
  model_config = config.model if "model" in config else config
  frozen_stages = int(model_config.backbone.frozen_stages)
  frozen = set()
  if frozen_stages >= 0:
    frozen |= {"conv1", "bn1", "stem"}
    frozen |= {f"layer{i}" for i in range(1, frozen_stages + 1)}

  def is_frozen(path) -> bool:
    keys = path.split("/") if isinstance(path, str) else [getattr(k, "key", k) for k in path]
    keys = [str(k) for k in keys]
    return len(keys) >= 2 and keys[0] == "backbone" and keys[1] in frozen

  return is_frozen
