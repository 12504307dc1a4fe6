"""Video K-Net: the whole per-frame model and the training-clip forward pass.

`VideoKNet(config.model)` maps images [B, H, W, 3] (H, W multiples of 32) and
optionally the previous frame's kernels to a dict keyed by the constants of
`video_knet_jax.common` (section 11 pseudo-code):

  C2..C5 = ResNet|Swin(x); P2..P5 = FPN(C)                 extract_feats
           (or the deformable pixel decoder: config.model.neck, models/necks.py)
  kernels, masks, x_feats = ConvKernelHead(P)              rpn_head
  for s in stages: kernels, masks, cls = stage_s(...)      roi_head
  (last stage: fusion / linking with previous kernels)
  embeddings = track_head(fc_embed(embed_fcs(track kernels of the P things)))

`config.model.temporal.enabled=False` builds the original's image `KNet`
instead: no linking, no fusion, no embedding/track head and no
TRACK_EMBEDDINGS output (TRACK_KERNELS == KERNELS).

Masks stay at stride 8; `resize.upsample_masks` brings them to stride 2 for
the losses. The parameter tree mirrors the torch state_dict
(notes/param_naming.md), so one key table converts checkpoints.
"""
import functools
from typing import Any, Dict, List, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from video_knet_jax import common
from video_knet_jax.models import backbones
from video_knet_jax.models import embedding_head
from video_knet_jax.models import kernel_head
from video_knet_jax.models import kernel_update_head
from video_knet_jax.models import necks

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}
SIZE_DIVISOR = 32


def compute_dtype(model_config) -> Any:
  """`config.model.dtype` ('float32' default, 'bfloat16', 'auto') as a jnp dtype.

  'auto' (the paper-recipe configs) is bfloat16 when JAX's default backend is a
  GPU or TPU and float32 on CPU, decided when the model is built.
  """
  name = model_config.get("dtype", "float32")
  if name == "auto":
    name = "bfloat16" if jax.default_backend() in ("gpu", "tpu") else "float32"
  if name not in _DTYPES:
    raise ValueError(f"config.model.dtype={name!r}; expected 'auto' or one of {sorted(_DTYPES)}.")
  return _DTYPES[name]


class VideoKNet(nn.Module):
  """The Video K-Net model (R50 or Swin; KITTI-STEP layout; or the image K-Net).

  Attributes:
    config: `config.model` (see configs/kitti_step.py `get_model_config`).
  """
  config: Any

  def setup(self):
    c = self.config
    dtype = compute_dtype(c)
    d = c.feat_channels
    self.num_classes = c.num_thing_classes + c.num_stuff_classes
    self.backbone = backbones.build_backbone(c.backbone, dtype)
    self.neck = necks.build_neck(c, dtype)   # FPN or the deformable pixel decoder.
    self.rpn_head = kernel_head.ConvKernelHead(
        num_proposals=c.num_proposals, num_classes=self.num_classes,
        num_thing_classes=c.num_thing_classes, feat_channels=d,
        num_groups=c.semantic_fpn.num_groups, upsample_times=c.semantic_fpn.upsample_times,
        pe_num_feats=c.semantic_fpn.pe_num_feats,
        pe_temperature=c.semantic_fpn.pe_temperature,
        mask_thr=c.kernel_head.get("mask_thr", c.update_head.mask_thr), dtype=dtype)
    u, t = c.update_head, c.temporal
    stage = functools.partial(
        kernel_update_head.KernelUpdateHead, num_classes=self.num_classes,
        num_heads=u.num_heads, ffn_channels=u.ffn_channels, num_cls_fcs=u.num_cls_fcs,
        num_mask_fcs=u.num_mask_fcs, mask_thr=u.mask_thr,
        link_type=t.get("link_type", "ffn"), dtype=dtype)
    self.temporal = is_temporal(c)
    self.roi_head = kernel_update_head.RoIHead(mask_head=functools.partial(
        kernel_update_head.KernelIterHead, num_stages=c.num_stages, stage=stage,
        link=self.temporal and t.link, fusion=self.temporal and t.fusion,
        link_all_stages=t.link_all_stages))
    if self.temporal:  # the image K-Net has no tracking embedding.
      self.embed_fcs = embedding_head.make_embed_fcs(d, dtype)
      self.fc_embed = embedding_head.make_fc_embed(d, dtype)
      self.track_head = embedding_head.TrackHead(
          fc_channels=d, embed_channels=t.embed_channels, num_fcs=t.track_num_fcs, dtype=dtype)

  def extract_feats(self, images: jnp.ndarray, train: bool = False) -> Sequence[jnp.ndarray]:
    """images [B, H, W, 3] -> FPN levels P2..P5, each [B, H/s, W/s, D]."""
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"VideoKNet expects images [B, H, W, 3], got {images.shape}.")
    if images.shape[1] % SIZE_DIVISOR or images.shape[2] % SIZE_DIVISOR:
      raise ValueError(f"VideoKNet: H, W = {images.shape[1:3]} must be multiples of "
                       f"{SIZE_DIVISOR} (config.data.size_divisor).")
    levels = self.backbone(images, train=train)
    expected = self.config.fpn.get("in_channels")
    if expected is not None and tuple(f.shape[-1] for f in levels) != tuple(expected):
      raise ValueError(f"config.model.fpn.in_channels={tuple(expected)} but the backbone gives "
                       f"{tuple(f.shape[-1] for f in levels)} channels.")
    return self.neck(levels)

  def heads(self, feats: Sequence[jnp.ndarray],
            previous_kernels: Optional[jnp.ndarray] = None) -> Dict[str, jnp.ndarray]:
    """FPN levels (+ previous frame's KERNELS [B, N, D]) -> the output dict."""
    rpn = self.rpn_head(feats)
    if previous_kernels is not None and not self.temporal:
      raise ValueError("previous_kernels given to an image K-Net "
                       "(config.model.temporal.enabled=False has no temporal layers).")
    if previous_kernels is not None and previous_kernels.shape != rpn[kernel_head.KERNELS].shape:
      raise ValueError(f"previous_kernels has shape {previous_kernels.shape}; expected "
                       f"{rpn[kernel_head.KERNELS].shape} (a previous output's KERNELS).")
    roi = self.roi_head(rpn[kernel_head.X_FEATS], rpn[kernel_head.KERNELS],
                        rpn[kernel_head.MASKS], previous_kernels)
    track = roi[kernel_update_head.TRACK]
    out = {
        common.RPN_MASK_LOGITS: rpn[kernel_head.THING_MASKS],
        common.RPN_SEG_LOGITS: rpn[kernel_head.SEG_LOGITS],
        common.STAGE_MASK_LOGITS: roi[kernel_update_head.STAGE_MASKS],
        common.STAGE_CLS_LOGITS: roi[kernel_update_head.STAGE_CLS],
        common.MASK_LOGITS: roi[kernel_update_head.STAGE_MASKS][-1],
        common.CLS_LOGITS: roi[kernel_update_head.STAGE_CLS][-1],
        common.KERNELS: roi[kernel_update_head.OBJ],
        common.TRACK_KERNELS: track,
    }
    if self.temporal:
      num_p = self.config.num_proposals
      out[common.TRACK_EMBEDDINGS] = self.track_head(
          self.fc_embed(self.embed_fcs(track[:, :num_p])))
    return {k: v.astype(jnp.float32) for k, v in out.items()}

  def __call__(self, images: jnp.ndarray, previous_kernels: Optional[jnp.ndarray] = None, *,
               train: bool = False) -> Dict[str, jnp.ndarray]:
    """images [B, H, W, 3] -> dict of `common` model outputs (see module doc)."""
    return self.heads(self.extract_feats(images, train), previous_kernels)

  def clip_forward(self, images: jnp.ndarray, *, train: bool = False
                   ) -> List[Dict[str, jnp.ndarray]]:
    """Training clip [B, T, H, W, 3] (T index 0 = key, 1.. = references) -> T output dicts.

    Backbone and neck run once on all B*T frames. The references go through
    the heads together without previous kernels; the key frame then gets the
    first reference's KERNELS as previous kernels (not detached: the
    linking/fusion gradients reach the reference branch, as in training).
    Returns [key, ref1, ref2, ...].
    """
    if not self.temporal:
      raise ValueError("clip_forward needs the temporal model; config.model.temporal.enabled "
                       "is False (image K-Net: call the model per frame).")
    if images.ndim != 5:
      raise ValueError(f"clip_forward expects images [B, T, H, W, 3], got {images.shape}.")
    b, t = images.shape[:2]
    if t < 2:
      raise ValueError(f"clip_forward needs a key and >= 1 reference frame, got T={t}.")
    feats = self.extract_feats(images.reshape(b * t, *images.shape[2:]), train)
    feats = [f.reshape(b, t, *f.shape[1:]) for f in feats]
    ref_out = self.heads([f[:, 1:].reshape(b * (t - 1), *f.shape[2:]) for f in feats])
    refs = [{k: _take_frame(k, v, b, t - 1, i) for k, v in ref_out.items()}
            for i in range(t - 1)]
    key = self.heads([f[:, 0] for f in feats], previous_kernels=refs[0][common.KERNELS])
    return [key, *refs]


def _take_frame(key: str, value: jnp.ndarray, b: int, t: int, i: int) -> jnp.ndarray:
  """Frame i of a [.., B*T, ..] output (batch axis 1 for the per-stage outputs)."""
  axis = 1 if key in (common.STAGE_MASK_LOGITS, common.STAGE_CLS_LOGITS) else 0
  shape = value.shape
  value = value.reshape(*shape[:axis], b, t, *shape[axis + 1:])
  return jnp.take(value, i, axis=axis + 1)


def is_temporal(model_config) -> bool:
  """`config.model.temporal.enabled` (default True); False = the original's image `KNet`."""
  return bool(model_config.temporal.get("enabled", True))


def build_model(config) -> VideoKNet:
  """`VideoKNet` from the full config (or `config.model`)."""
  model_config = config.model if "model" in config else config
  if isinstance(model_config, ml_collections.ConfigDict):
    model_config = ml_collections.FrozenConfigDict(model_config)
  return VideoKNet(config=model_config)


def clip_forward(model: VideoKNet, variables, images: jnp.ndarray, *, train: bool = False,
                 **apply_kwargs):
  """`model.apply(variables, images, method=clip_forward)`; see `VideoKNet.clip_forward`.

  `apply_kwargs` go to `apply` (e.g. `mutable=['batch_stats']` when the
  backbone BN is trained); the return value is then `apply`'s (outputs, state).
  """
  return model.apply(variables, images, train=train, method=VideoKNet.clip_forward,
                     **apply_kwargs)
