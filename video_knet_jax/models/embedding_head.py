"""Tracking embedding path (section 3.7): kernels -> association embeddings.

In the original, `embed_fcs` (Linear no-bias -> LN -> ReLU) and `fc_embed`
live on the detector itself, then the QDTrack-style `track_head` applies
fcs.0/fcs.1 (Linear + ReLU each) and its own `fc_embed`. The output is *not*
normalised (similarity = raw dot product). `VideoKNet` owns the first two
(top-level params `embed_fcs`, `fc_embed`); this file builds them.
"""
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from video_knet_jax.models import containers
from video_knet_jax.models import conv_module

# torch nn.Linear default weight init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
TORCH_LINEAR_INIT = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def make_embed_fcs(channels: int, dtype: Any = jnp.float32) -> containers.Sequential:
  """`embed_fcs`: Linear(D, D, no bias) -> LN -> ReLU (assign to a setup attribute)."""
  return containers.Sequential(layers=(
      functools.partial(nn.Dense, channels, use_bias=False, kernel_init=TORCH_LINEAR_INIT,
                        dtype=dtype),
      functools.partial(nn.LayerNorm, epsilon=conv_module.NORM_EPS, dtype=dtype),
      nn.relu))


def make_fc_embed(channels: int, dtype: Any = jnp.float32) -> nn.Dense:
  """Detector-level `fc_embed`: Linear(D, D)."""
  return nn.Dense(channels, kernel_init=TORCH_LINEAR_INIT, dtype=dtype)


class TrackHead(nn.Module):
  """QuasiDense embed head with num_convs=0: fcs.{i} (Linear + ReLU), fc_embed.

  Attributes:
    fc_channels: width of the fcs.
    embed_channels: E.
    num_fcs: number of Linear + ReLU layers.
    dtype: compute dtype.
  """
  fc_channels: int = 256
  embed_channels: int = 256
  num_fcs: int = 2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):  # [..., D] -> [..., E]
    fc = functools.partial(nn.Dense, self.fc_channels, kernel_init=nn.initializers.xavier_uniform(),
                           dtype=self.dtype)
    x = containers.ModuleList(layers=[fc] * self.num_fcs, activation=nn.relu, name="fcs")(x)
    return nn.Dense(self.embed_channels, kernel_init=conv_module.normal_init(0.01),
                    dtype=self.dtype, name="fc_embed")(x)


class QDTrackEmbedHead(nn.Module):
  """QDTrack's `QuasiDenseEmbedHead` on RoI features (the RoI-Align ablation).

  convs.{i} (3x3 conv without bias, GroupNorm, ReLU) -> flatten -> fcs.{i}
  (Linear + ReLU) -> fc_embed. The original gives no config for this
  ablation; the defaults are the head's own (`knet/video/track_heads.py`
  `QuasiDenseMaskEmbedHead`: 4 convs, 1 fc of 1024, 7 x 7 RoIs) with QDTrack's
  GN(32).

  Attributes:
    num_convs, conv_channels, num_groups: the conv branch.
    num_fcs, fc_channels: the fc branch.
    embed_channels: E.
    dtype: compute dtype.
  """
  num_convs: int = 4
  conv_channels: int = 256
  num_groups: int = 32
  num_fcs: int = 1
  fc_channels: int = 1024
  embed_channels: int = 256
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, rois):  # [K, r, r, C] -> [K, E]
    conv = functools.partial(
        conv_module.ConvModule, self.conv_channels, 3, num_groups=self.num_groups,
        kernel_init=nn.initializers.variance_scaling(2.0, "fan_out", "normal"),
        dtype=self.dtype)
    x = containers.ModuleList(layers=[conv] * self.num_convs, name="convs")(rois)
    # torch flattens [K, C, r, r]: channel-major, so fcs.0 keeps the torch layout.
    x = jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)
    fc = functools.partial(nn.Dense, self.fc_channels,
                           kernel_init=nn.initializers.xavier_uniform(), dtype=self.dtype)
    x = containers.ModuleList(layers=[fc] * self.num_fcs, activation=nn.relu, name="fcs")(x)
    return nn.Dense(self.embed_channels, kernel_init=conv_module.normal_init(0.01),
                    dtype=self.dtype, name="fc_embed")(x)


def mask_mean_pool(feats: jnp.ndarray, masks: jnp.ndarray) -> jnp.ndarray:
  """The Mask-Emb ablation's input (`knet/video/knet_quansi_dense.py` `_track_forward`).

  feats [B, h, w, D] (the rpn `x_feats`), masks [B, K, H, W] (nonzero =
  inside) -> [B, K, D]: each mask is resized bilinearly to (h, w),
  binarised (> 0, the original's `sigmoid > 0.5`) and the features are summed
  under it and divided by (area + 1).
  """
  binary = downsample_binary(masks != 0, feats.shape[1:3]).astype(feats.dtype)
  pooled = jnp.einsum("bkhw,bhwc->bkc", binary, feats)
  return pooled / (binary.sum(axis=(2, 3))[..., None] + 1)


def downsample_binary(masks: jnp.ndarray, size) -> jnp.ndarray:
  """(bilinear resize (align_corners=False) of bool masks [..., H, W] to `size`) > 0.

  For an integer factor f a bilinear output pixel reads input pixels
  floor and ceil of f * i + (f - 1) / 2 with positive weights, so the result
  is their OR: two strided slices instead of a dense resize.
  """
  *lead, height, width = masks.shape
  h, w = size
  if height % h or width % w:
    small = jax.image.resize(masks.astype(jnp.float32), (*lead, h, w), "bilinear",
                             antialias=False)
    return small > 0
  def axis_or(x, axis, n):
    f = x.shape[axis] // n
    x = x.reshape(*x.shape[:axis], n, f, *x.shape[axis + 1:])
    return (jnp.take(x, (f - 1) // 2, axis=axis + 1) | jnp.take(x, f // 2, axis=axis + 1))
  return axis_or(axis_or(masks, masks.ndim - 2, h), masks.ndim - 1, w)
