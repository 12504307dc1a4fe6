"""The original's `MSDeformAttnPixelDecoder` neck (knet/det/msdeformattn_decoder.py).

The neck of the deformable K-Net / KNetTrack configs, in place of the FPN:

  C2..C5 (strides 4..32) from the backbone
  the 3 coarsest (C5, C4, C3) -> input_convs (1x1 conv + bias, GroupNorm)      [B, h_l, w_l, D]
  flattened and concatenated (coarse to fine) as Q = sum h_l w_l tokens,
  6 x [MS deformable self-attention (+ sine PE + level embedding on the query),
       LayerNorm, FFN (D -> 1024 -> D, residual), LayerNorm]   (mmcv post-norm layer)
  tokens split back: E32, E16, E8
  C2 -> lateral_convs.0 (1x1, GN) + bilinear(E8) -> output_convs.0 (3x3, GN, ReLU)
     -> mask_feature (1x1 conv + bias)                                           M4
  returns (M4, E8, E16, E32), strides 4, 8, 16, 32: the same 4 levels as the FPN.

Reference points are the pixel centres of each query's own level, normalised
((j + 0.5) / w, (i + 0.5) / h) and repeated over the levels (no padding mask:
inputs are unpadded, as the original's all-False masks). Parameter names mirror
the torch state_dict (`neck.encoder.layers.{i}.attentions.0.sampling_offsets`...).
"""
import functools
import math
from typing import Any, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from video_knet_jax.models import containers
from video_knet_jax.models import conv_module
from video_knet_jax.models import fast_conv
from video_knet_jax.models import ms_deform_attn
from video_knet_jax.models import positional_encoding
from video_knet_jax.models import resize
from video_knet_jax.models import transformer_layers

NAME = "msdeformattn_pixel_decoder"   # config.model.neck.name.

# mmcv `caffe2_xavier_init`: kaiming_uniform(a=1, fan_in) = U(+-sqrt(3 / fan_in)).
_CAFFE2_XAVIER = nn.initializers.variance_scaling(1.0, "fan_in", "uniform")


def _torch_linear_bias(fan_in: int):
  """torch nn.Linear's default bias init U(+-1/sqrt(fan_in)) (the FFN keeps it)."""
  bound = 1.0 / math.sqrt(fan_in)
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype,
                                                                  -bound, bound)


def reference_points(spatial_shapes: Sequence[Tuple[int, int]]) -> np.ndarray:
  """[Q, 2] normalised (x, y) pixel centres of every level, row-major, levels in order."""
  points = []
  for h, w in spatial_shapes:
    y, x = np.meshgrid((np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w, indexing="ij")
    points.append(np.stack([x.reshape(-1), y.reshape(-1)], -1))
  return np.concatenate(points).astype(np.float32)


class EncoderLayer(nn.Module):
  """mmcv `BaseTransformerLayer`, operation_order (self_attn, norm, ffn, norm).

  Children `attentions/0` (MultiScaleDeformableAttention), `norms/0`, `norms/1`
  (LayerNorm), `ffns/0` (FFN, residual added here).
  """
  embed_dims: int = 256
  num_heads: int = 8
  num_levels: int = 3
  num_points: int = 4
  ffn_channels: int = 1024
  method: str = ms_deform_attn.GATHER
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, pos, ref, spatial_shapes):
    """x [B, Q, D], pos [1, Q, D], ref [1, Q, L, 2] -> [B, Q, D]."""
    attention = functools.partial(
        ms_deform_attn.MultiScaleDeformableAttention, embed_dims=self.embed_dims,
        num_heads=self.num_heads, num_levels=self.num_levels, num_points=self.num_points,
        method=self.method, dtype=self.dtype)
    norm = functools.partial(nn.LayerNorm, epsilon=conv_module.NORM_EPS, dtype=self.dtype)
    ffn = functools.partial(
        transformer_layers.FFN, embed_dims=self.embed_dims,
        feedforward_channels=self.ffn_channels,
        kernel_init=nn.initializers.xavier_normal(), dtype=self.dtype)
    norms = containers.Indexed([norm, norm], name="norms")
    x = containers.Indexed([attention], name="attentions")(0, x, ref, spatial_shapes,
                                                           query_pos=pos)
    x = norms(0, x)
    x = x + containers.Indexed([ffn], name="ffns")(0, x)
    return norms(1, x)


class Encoder(nn.Module):
  """mmdet `DetrTransformerEncoder` of post-norm layers: children `layers/{i}`."""
  num_layers: int = 6
  layer: Any = EncoderLayer

  @nn.compact
  def __call__(self, x, pos, ref, spatial_shapes):
    layers = containers.Indexed([self.layer] * self.num_layers, name="layers")
    for i in range(self.num_layers):
      x = layers(i, x, pos, ref, spatial_shapes)
    return x


class MSDeformAttnPixelDecoder(nn.Module):
  """(C2, C3, C4, C5) -> (M4, E8, E16, E32), each with `feat_channels` channels.

  Attributes:
    feat_channels: D (256).
    out_channels: channels of `mask_feature` (256).
    num_encoder_levels: coarsest levels through the encoder (3).
    num_layers, num_heads, num_points, ffn_channels: the encoder (6, 8, 4, 1024).
    num_groups: GroupNorm groups of the convs (32).
    pe_num_feats: sine positional encoding features per axis (D / 2).
    num_outs: encoder outputs returned besides mask_feature (3).
    method: deformable sampling form ('gather' or 'one_hot').
    dtype: compute dtype.
  """
  feat_channels: int = 256
  out_channels: int = 256
  num_encoder_levels: int = 3
  num_layers: int = 6
  num_heads: int = 8
  num_points: int = 4
  ffn_channels: int = 1024
  num_groups: int = 32
  pe_num_feats: int = 128
  num_outs: int = 3
  method: str = ms_deform_attn.GATHER
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, feats: Sequence[jnp.ndarray]) -> Tuple[jnp.ndarray, ...]:
    d, levels = self.feat_channels, self.num_encoder_levels
    n = len(feats)
    if not 1 <= levels < n:
      raise ValueError(f"config.model.neck.num_encoder_levels={levels} must leave at least "
                       f"one of the backbone's {n} levels for the FPN part.")
    if n - levels != 1:
      raise ValueError(f"The original's decoder returns mask_feature of the one level below the "
                       f"encoder; got {n} backbone levels and {levels} encoder levels.")
    if self.num_outs != levels:
      raise ValueError(f"config.model.neck.num_outs={self.num_outs}; the decoder returns all "
                       f"{levels} encoder levels (num_outs == num_encoder_levels).")
    if 2 * self.pe_num_feats != d:
      raise ValueError(f"2 * pe_num_feats={2 * self.pe_num_feats} must equal feat_channels={d}.")
    conv = functools.partial(conv_module.ConvModule, d, num_groups=self.num_groups,
                             dtype=self.dtype)
    coarse = [feats[n - 1 - i] for i in range(levels)]          # C5, C4, C3.
    projected = containers.ModuleList(
        layers=[functools.partial(conv, kernel_size=1, use_bias=True, activation=False,
                                  kernel_init=nn.initializers.xavier_uniform())] * levels,
        parallel=True, name="input_convs")(coarse)
    shapes = tuple((int(f.shape[1]), int(f.shape[2])) for f in projected)
    level_embed = nn.Embed(levels, d, embedding_init=nn.initializers.normal(1.0),
                           name="level_encoding")(jnp.arange(levels))        # [L, D]
    pos = jnp.concatenate([
        (positional_encoding.sine_positional_encoding(h, w, self.pe_num_feats)
         + level_embed[i].astype(jnp.float32)).reshape(h * w, d)
        for i, (h, w) in enumerate(shapes)])                                  # [Q, D]
    ref = reference_points(shapes)                                            # [Q, 2]
    ref = jnp.broadcast_to(jnp.asarray(ref)[None, :, None, :], (1, ref.shape[0], levels, 2))
    b = projected[0].shape[0]
    tokens = jnp.concatenate([f.reshape(b, -1, d) for f in projected], axis=1)  # [B, Q, D]
    layer = functools.partial(
        EncoderLayer, embed_dims=d, num_heads=self.num_heads, num_levels=levels,
        num_points=self.num_points, ffn_channels=self.ffn_channels, method=self.method,
        dtype=self.dtype)
    memory = Encoder(num_layers=self.num_layers, layer=layer, name="encoder")(
        tokens, pos[None].astype(self.dtype), ref, shapes)
    splits = np.cumsum([h * w for h, w in shapes])[:-1]
    outs = [m.reshape(b, h, w, d)
            for m, (h, w) in zip(jnp.split(memory, splits, axis=1), shapes)]  # E32, E16, E8.

    # FPN-style top-down for the finest level(s) outside the encoder.
    x = containers.ModuleList(
        layers=[functools.partial(conv, kernel_size=1, activation=False,
                                  kernel_init=_CAFFE2_XAVIER)], name="lateral_convs")(feats[0])
    x = x + resize.resize_bilinear_nhwc(outs[-1], x.shape[1:3])
    x = containers.ModuleList(
        layers=[functools.partial(conv, kernel_size=3, activation=True,
                                  kernel_init=_CAFFE2_XAVIER)], name="output_convs")(x)
    mask_feature = nn.Conv(self.out_channels, (1, 1), kernel_init=_CAFFE2_XAVIER,
                           dtype=self.dtype, name="mask_feature",
                           conv_general_dilated=fast_conv.conv_general_dilated)(x)
    return (mask_feature, *reversed(outs[:self.num_outs]))
