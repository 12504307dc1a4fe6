"""Neck choice: `config.model.neck.name` -> the FPN (default) or the deformable pixel decoder.

Both map the backbone's (C2, C3, C4, C5) to 4 levels of `feat_channels` at
strides 4, 8, 16, 32, so the kernel head takes either unchanged. Configs
without a `model.neck` block get the FPN of `model.fpn`.
"""
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from video_knet_jax.models import fpn
from video_knet_jax.models import msdeform_pixel_decoder

FPN = "fpn"
NAMES = (FPN, msdeform_pixel_decoder.NAME)


def neck_name(model_config) -> str:
  neck = model_config.get("neck", None)
  name = neck.get("name", FPN) if neck else FPN
  if name not in NAMES:
    raise ValueError(f"config.model.neck.name={name!r}; expected one of {NAMES}.")
  return name


def build_neck(model_config, dtype: Any = jnp.float32) -> nn.Module:
  """The neck of `config.model` (children named as the original's `neck.*`)."""
  d = model_config.feat_channels
  if neck_name(model_config) == FPN:
    return fpn.FPN(out_channels=d, num_outs=model_config.fpn.num_outs, dtype=dtype)
  n = model_config.neck
  return msdeform_pixel_decoder.MSDeformAttnPixelDecoder(
      feat_channels=d, out_channels=d, num_encoder_levels=n.num_encoder_levels,
      num_layers=n.num_layers, num_heads=n.num_heads, num_points=n.num_points,
      ffn_channels=n.ffn_channels, num_groups=n.num_groups, pe_num_feats=n.pe_num_feats,
      num_outs=n.num_outs, method=n.get("attention_method", "gather"), dtype=dtype)
