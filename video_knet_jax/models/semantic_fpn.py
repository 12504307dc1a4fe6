"""K-Net `SemanticFPNWrapper`: the localization feature at stride 8 (section 3.2).

Every FPN level gets a branch of GN ConvModules that brings it to the output
stride; the branches are summed and two 1x1 ConvModules produce the thing
('conv_pred') and stuff ('aux_convs/0') features. The top level gets a sine
positional encoding added first. With `upsample_times = end_level - 1` (video
K-Net) level 0 is *downsampled* by a 3x3 stride-2 conv; level i >= 1 has i
convs, the first `upsample_times - (end_level - i)` of them followed by a
bilinear x2 (align_corners=False).
"""
import functools
from typing import Any, Sequence, Tuple

import flax.linen as nn
import jax.numpy as jnp

from video_knet_jax.models import containers
from video_knet_jax.models import conv_module
from video_knet_jax.models import positional_encoding
from video_knet_jax.models import resize

CONV_STD = 0.01  # normal_init(std=0.01) of every conv (section 4.1).


class _LevelBranch(nn.Module):
  """One `convs_all_levels/{l}` branch: children conv0, conv1, ..."""
  level: int
  end_level: int
  upsample_times: int
  features: int
  num_groups: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):  # [B, h_l, w_l, C] -> [B, h_out, w_out, features]
    def conv(k, stride=1):
      return conv_module.ConvModule(self.features, 3, stride=stride, num_groups=self.num_groups,
                                    kernel_init=conv_module.normal_init(CONV_STD),
                                    dtype=self.dtype, name=f"conv{k}")
    if self.level == 0:
      return conv(0, stride=2 if self.upsample_times < self.end_level else 1)(x)
    num_up = self.upsample_times - (self.end_level - self.level)
    for k in range(self.level):
      x = conv(k)(x)
      if k < num_up:
        x = resize.resize_bilinear_nhwc(x, (2 * x.shape[1], 2 * x.shape[2]))
    return x


class SemanticFPN(nn.Module):
  """(P2..P5) -> (thing feature, stuff feature), each [B, H/8, W/8, out_channels].

  Attributes:
    feat_channels: branch width (256).
    out_channels: output width (256).
    num_groups: GroupNorm groups (32).
    upsample_times: 2 -> stride 8 output (3 -> stride 4, image K-Net).
    pe_num_feats: sine PE features per axis; 2 * pe_num_feats == feat_channels.
    pe_temperature: sine PE temperature.
    dtype: compute dtype.
  """
  feat_channels: int = 256
  out_channels: int = 256
  num_groups: int = 32
  upsample_times: int = 2
  pe_num_feats: int = 128
  pe_temperature: float = 10000.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, feats: Sequence[jnp.ndarray]) -> Tuple[jnp.ndarray, jnp.ndarray]:
    end_level = len(feats) - 1
    if not 0 <= end_level - self.upsample_times <= 1:
      raise ValueError(f"config.model.semantic_fpn.upsample_times={self.upsample_times} needs "
                       f"{end_level - 1} or {end_level} for {len(feats)} FPN levels.")
    top = feats[end_level]
    if 2 * self.pe_num_feats != top.shape[-1]:
      raise ValueError(f"config.model.semantic_fpn.pe_num_feats={self.pe_num_feats}: twice it "
                       f"must equal the FPN width {top.shape[-1]}.")
    pe = positional_encoding.sine_positional_encoding(
        top.shape[1], top.shape[2], self.pe_num_feats, self.pe_temperature)
    container = _Levels(end_level=end_level, upsample_times=self.upsample_times,
                        features=self.feat_channels, num_groups=self.num_groups,
                        dtype=self.dtype, name="convs_all_levels")
    fused = container([*feats[:end_level], top + pe.astype(top.dtype)[None]])

    head = functools.partial(conv_module.ConvModule, self.out_channels, 1,
                             num_groups=self.num_groups,
                             kernel_init=conv_module.normal_init(CONV_STD), dtype=self.dtype)
    thing = head(name="conv_pred")(fused)
    stuff = containers.ModuleList(layers=[head], name="aux_convs")(fused)
    return thing, stuff


class _Levels(nn.Module):
  """`convs_all_levels`: branches '0'..end_level, summed at the output stride."""
  end_level: int
  upsample_times: int
  features: int
  num_groups: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, feats):
    out = None
    for level, x in enumerate(feats):
      y = _LevelBranch(level, self.end_level, self.upsample_times, self.features,
                       self.num_groups, dtype=self.dtype, name=str(level))(x)
      if out is not None and y.shape != out.shape:
        raise ValueError(f"SemanticFPN: level {level} gives {y.shape}, level 0 {out.shape}; "
                         "the input H, W must be multiples of 32.")
      out = y if out is None else out + y
    return out

