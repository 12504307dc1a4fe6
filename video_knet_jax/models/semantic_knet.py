"""Semantic K-Net for video semantic segmentation (VSPW; video_knet_extensions.md 4).

`SemanticKNet(config.model)` (config.task = 'semantic') maps images
[B, H, W, 3] and optionally the previous frame's class kernels to a dict:

  C2..C5 = ResNet-101-d8 (deep stem, dilations 1,1,2,4, output stride 8)
  feats, base logits, kernels = base head (PSPNet | DeepLabv3+) + conv_seg
  for s in stages: logits, kernels = KernelUpdateHead_s(feats, kernels, logits)
      (last stage, video extension: fuse the previous frame's kernels first)
  aux logits = FCNHead(C4)                              (training loss only)

Parameter names mirror mmseg's EncoderDecoder (`backbone`, `decode_head`
{kernel_generate_head, kernel_update_head}, `auxiliary_head`), so the
converter's SEMANTIC_KNET_TABLE maps them. The kernel state between frames is
an explicit value (`SEG_KERNELS` out, `previous_kernels` in).
"""
import functools
from typing import Any, Dict, List, Optional

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from video_knet_jax import common
from video_knet_jax.models import decode_heads
from video_knet_jax.models import resnet
from video_knet_jax.models import semantic_update_head as suh
from video_knet_jax.models import video_knet

SEMANTIC = "semantic"
# Output keys (shapes in common.py).
BASE_LOGITS = common.BASE_LOGITS
STAGE_LOGITS = common.STAGE_LOGITS
SEG_LOGITS = common.SEG_LOGITS
SEG_KERNELS = common.SEG_KERNELS
AUX_LOGITS = common.AUX_LOGITS


class SemanticKNet(nn.Module):
  """Semantic K-Net with an optional kernel-fusion video extension.

  Attributes:
    config: `config.model` (configs/vspw.py `get_model_config`).
  """
  config: Any

  def setup(self):
    c = self.config
    dtype = video_knet.compute_dtype(c)
    h = c.decode_head
    self.backbone = resnet.build_resnet(c.backbone, dtype)
    stage = functools.partial(
        suh.SemanticKernelUpdateHead, num_heads=c.update_head.num_heads,
        ffn_channels=c.update_head.ffn_channels, num_mask_fcs=c.update_head.num_mask_fcs,
        updator_rows=c.update_head.updator_rows, dtype=dtype)
    self.decode_head = suh.IterativeDecodeHead(
        num_classes=c.num_classes, base_head=h.base_head, channels=h.channels,
        dropout_ratio=h.dropout_ratio, num_stages=c.num_stages, stage=stage,
        fusion=c.temporal.fusion, norm_eval=c.backbone.norm_eval, dtype=dtype)
    self.auxiliary_head = None
    if c.auxiliary_head.enabled:
      self.auxiliary_head = decode_heads.FCNAuxHead(
          num_classes=c.num_classes, channels=c.auxiliary_head.channels,
          dropout_ratio=h.dropout_ratio, norm_eval=c.backbone.norm_eval, dtype=dtype)

  def __call__(self, images: jnp.ndarray, previous_kernels: Optional[jnp.ndarray] = None, *,
               train: bool = False) -> Dict[str, jnp.ndarray]:
    """images [B, H, W, 3] (+ previous SEG_KERNELS [B, K, C]) -> output dict."""
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"SemanticKNet expects images [B, H, W, 3], got {images.shape}.")
    div = video_knet.SIZE_DIVISOR
    if images.shape[1] % div or images.shape[2] % div:
      raise ValueError(f"SemanticKNet: H, W = {images.shape[1:3]} must be multiples of "
                       f"{div} (config.data.size_divisor).")
    feats = self.backbone(images, train=train)
    out = self.decode_head(feats, previous_kernels, train=train)
    result = {BASE_LOGITS: out[suh.BASE_LOGITS], STAGE_LOGITS: out[suh.STAGE_LOGITS],
              SEG_LOGITS: out[suh.STAGE_LOGITS][-1], SEG_KERNELS: out[suh.KERNELS]}
    if self.auxiliary_head is not None and (train or self.is_initializing()):
      result[AUX_LOGITS] = self.auxiliary_head(feats, train)
    return {k: v.astype(jnp.float32) for k, v in result.items()}

  def clip_forward(self, images: jnp.ndarray, *, train: bool = False
                   ) -> List[Dict[str, jnp.ndarray]]:
    """Training clip [B, 2, H, W, 3] (key, reference) -> [key out, reference out].

    The reference runs without previous kernels; with fusion on, the key frame
    gets the reference's last-stage kernels, not detached (4.3). Without
    fusion both frames are independent images.
    """
    if images.ndim != 5 or images.shape[1] != 2:
      raise ValueError(f"clip_forward expects images [B, 2, H, W, 3], got {images.shape}.")
    ref = self(images[:, 1], train=train)
    previous = ref[SEG_KERNELS] if self.config.temporal.fusion else None
    return [self(images[:, 0], previous, train=train), ref]


def build_model(config) -> SemanticKNet:
  """`SemanticKNet` from the full config (or `config.model`)."""
  model_config = config.model if "model" in config else config
  if isinstance(model_config, ml_collections.ConfigDict):
    model_config = ml_collections.FrozenConfigDict(model_config)
  return SemanticKNet(config=model_config)
