"""KNetTrack: the clip-level video instance segmentation model (YouTube-VIS).

Extensions section 3. A clip [B, T, H, W, 3] is flattened to B*T images:

  P2..P5 = neck(backbone(x))  (ResNet-50 or Swin-B; FPN or  per frame
           the deformable pixel decoder, models/necks.py)
  kernels, masks, X = ConvKernelHead(P)   (things only)     rpn_head
  3 x KernelUpdateHead, per frame, no linking               roi_head.mask_head
  Kc = mean over the clip's frames of the final kernels     [B, N, D]
  stages 0, 1: one kernel set per clip, pooled features averaged over frames,
               clip-level classes [B, N, C], masks on every frame
  stage 2:     Kc repeated per frame, per-frame refinement, no classes
                                                            tracker.mask_head

The shared machinery (ConvKernelHead, KernelUpdateHead, KernelIterHead) is
reused; only the clip loop is new. Parameter names mirror the original
state_dict (original_state_dict_keys_vis_{r50,swinb}_ytvis.json). Padded frames
(`frame_weights` 0) take no part in the clip means.
"""
import functools
from typing import Any, Callable, Dict, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from video_knet_jax import common
from video_knet_jax.models import backbones
from video_knet_jax.models import kernel_head
from video_knet_jax.models import kernel_update_head
from video_knet_jax.models import necks
from video_knet_jax.models import video_knet

# Keys of the KNetTrack output dict (shapes in common.py).
RPN_MASK_LOGITS = common.RPN_MASK_LOGITS      # [B*T, P, h, w]
RPN_SEG_LOGITS = common.RPN_SEG_LOGITS        # [B*T, C, h, w]
FRAME_MASK_LOGITS = common.FRAME_MASK_LOGITS
FRAME_CLS_LOGITS = common.FRAME_CLS_LOGITS
CLIP_MASK_LOGITS = common.CLIP_MASK_LOGITS
CLIP_CLS_LOGITS = common.CLIP_CLS_LOGITS


def clip_mean(values: jnp.ndarray, frame_weights: jnp.ndarray) -> jnp.ndarray:
  """values [B*T, ...], frame_weights [B, T] -> weighted mean over T [B, ...]."""
  b, t = frame_weights.shape
  w = frame_weights.astype(values.dtype)
  w = w / jnp.maximum(w.sum(1, keepdims=True), 1)
  return jnp.einsum("bt...,bt->b...", values.reshape(b, t, *values.shape[1:]), w)


class ClipIterHead(nn.Module):
  """`tracker.mask_head` (KernelFrameIterHeadVideo): stages '0'..'S-1'.

  Attributes:
    num_stages: S; the first S-1 are clip-level with classes, the last one
      refines per frame without classes.
    stage: `KernelUpdateHead` factory (a partial; name, with_cls set here).
  """
  num_stages: int = 3
  stage: Callable[..., kernel_update_head.KernelUpdateHead] = (
      kernel_update_head.KernelUpdateHead)

  @nn.compact
  def __call__(self, x_feats, kernels, mask_logits, frame_weights, *,
               only_stage: Optional[int] = None, **stage_kwargs):
    """x_feats [B*T, h, w, D], kernels [B*T, N, D] (per-frame final),
    mask_logits [B*T, N, h, w], frame_weights [B, T].

    only_stage s: run stage s alone on the given inputs and return its raw
    output (`KernelUpdateHead` with `stage_kwargs`, e.g. `pool_only` or
    `assembled`); the bounded whole-video pass (inference/vis_bounded.py)
    chains the stages itself, chunk by chunk."""
    if only_stage is not None:
      return self._stage(only_stage)(x_feats, kernels, mask_logits,
                                     frame_weights=frame_weights, **stage_kwargs)
    t = frame_weights.shape[1]
    clip_kernels = clip_mean(kernels, frame_weights)             # [B, N, D]
    stage_masks, stage_cls = [], []
    for s in range(self.num_stages):
      if s < self.num_stages - 1:
        cls, mask_logits, clip_kernels, _ = self._stage(s)(
            x_feats, clip_kernels, mask_logits, frame_weights=frame_weights)
        stage_cls.append(cls)
      else:
        frame_kernels = jnp.repeat(clip_kernels, t, axis=0)      # [B*T, N, D]
        _, mask_logits, _, _ = self._stage(s)(x_feats, frame_kernels, mask_logits)
      stage_masks.append(mask_logits)
    return {CLIP_MASK_LOGITS: jnp.stack(stage_masks),
            CLIP_CLS_LOGITS: jnp.stack(stage_cls)}

  def _stage(self, s: int) -> kernel_update_head.KernelUpdateHead:
    """Stage s: clip-level with classes, except the last (per frame, no classes)."""
    if not 0 <= s < self.num_stages:
      raise ValueError(f"Tracker stage {s} does not exist (config.model.tracker."
                       f"num_stages={self.num_stages}).")
    return self.stage(name=str(s), with_cls=s < self.num_stages - 1)


class KNetTrack(nn.Module):
  """The clip-level VIS model (R50 or Swin-B layout).

  Attributes:
    config: `config.model` (configs/youtube_vis.py `get_model_config`).
  """
  config: Any

  def setup(self):
    c = self.config
    dtype = video_knet.compute_dtype(c)
    d = c.feat_channels
    num_classes = c.num_thing_classes + c.num_stuff_classes
    if c.num_stuff_classes:
      raise ValueError(f"KNetTrack segments things only; config.model."
                       f"num_stuff_classes={c.num_stuff_classes} must be 0.")
    self.backbone = backbones.build_backbone(c.backbone, dtype)
    self.neck = necks.build_neck(c, dtype)   # FPN or the deformable pixel decoder.
    self.rpn_head = kernel_head.ConvKernelHead(
        num_proposals=c.num_proposals, num_classes=num_classes,
        num_thing_classes=c.num_thing_classes, feat_channels=d,
        num_groups=c.semantic_fpn.num_groups,
        upsample_times=c.semantic_fpn.upsample_times,
        pe_num_feats=c.semantic_fpn.pe_num_feats,
        pe_temperature=c.semantic_fpn.pe_temperature,
        mask_thr=c.update_head.mask_thr, dtype=dtype)
    u = c.update_head
    stage = functools.partial(
        kernel_update_head.KernelUpdateHead, num_classes=num_classes,
        num_heads=u.num_heads, ffn_channels=u.ffn_channels,
        num_cls_fcs=u.num_cls_fcs, num_mask_fcs=u.num_mask_fcs,
        mask_thr=u.mask_thr, dtype=dtype)
    self.roi_head = kernel_update_head.RoIHead(mask_head=functools.partial(
        kernel_update_head.KernelIterHead, num_stages=c.num_stages,
        stage=stage, link=False, fusion=False))
    self.tracker = kernel_update_head.RoIHead(mask_head=functools.partial(
        ClipIterHead, num_stages=c.tracker.num_stages, stage=stage))

  def __call__(self, clips: jnp.ndarray,
               frame_weights: Optional[jnp.ndarray] = None, *,
               train: bool = False) -> Dict[str, jnp.ndarray]:
    """clips [B, T, H, W, 3] (H, W multiples of 32), frame_weights [B, T]
    (default all 1) -> dict of the keys above, float32."""
    if clips.ndim != 5 or clips.shape[-1] != 3:
      raise ValueError(f"KNetTrack expects clips [B, T, H, W, 3], got "
                       f"{clips.shape}.")
    b, t, h, w = clips.shape[:4]
    if h % video_knet.SIZE_DIVISOR or w % video_knet.SIZE_DIVISOR:
      raise ValueError(f"KNetTrack: H, W = {(h, w)} must be multiples of "
                       f"{video_knet.SIZE_DIVISOR}.")
    if frame_weights is None:
      frame_weights = jnp.ones((b, t), jnp.float32)
    if frame_weights.shape != (b, t):
      raise ValueError(f"frame_weights has shape {frame_weights.shape}; "
                       f"expected {(b, t)}.")
    feats = self.neck(self.backbone(clips.reshape(b * t, h, w, 3), train=train))
    rpn = self.rpn_head(feats)
    roi = self.roi_head(rpn[kernel_head.X_FEATS], rpn[kernel_head.KERNELS],
                        rpn[kernel_head.MASKS])
    clip = self.tracker(rpn[kernel_head.X_FEATS], roi[kernel_update_head.OBJ],
                        roi[kernel_update_head.STAGE_MASKS][-1], frame_weights)
    out = {
        RPN_MASK_LOGITS: rpn[kernel_head.THING_MASKS],
        RPN_SEG_LOGITS: rpn[kernel_head.SEG_LOGITS],
        FRAME_MASK_LOGITS: roi[kernel_update_head.STAGE_MASKS],
        FRAME_CLS_LOGITS: roi[kernel_update_head.STAGE_CLS],
        **clip,
    }
    return {k: v.astype(jnp.float32) for k, v in out.items()}


  def frame_part(self, images: jnp.ndarray):
    """The per-frame part at test time, for chunked whole-video inference:
    images [F, H, W, 3] -> (x_feats [F, h, w, D], final per-frame kernels
    [F, N, D], last per-frame stage's mask logits [F, N, h, w]); frames are
    independent, so any split of a video into chunks gives the same values."""
    feats = self.neck(self.backbone(images, train=False))
    rpn = self.rpn_head(feats)
    roi = self.roi_head(rpn[kernel_head.X_FEATS], rpn[kernel_head.KERNELS],
                        rpn[kernel_head.MASKS])
    return (rpn[kernel_head.X_FEATS], roi[kernel_update_head.OBJ],
            roi[kernel_update_head.STAGE_MASKS][-1])

  def clip_stage(self, stage: int, x_feats, kernels, mask_logits,
                 frame_weights=None, **stage_kwargs):
    """Tracker stage `stage` alone on `frame_part` outputs of some frames, for
    the bounded whole-video pass (see `ClipIterHead`); float32 arrays."""
    out = self.tracker(x_feats, kernels, mask_logits, frame_weights,
                       only_stage=stage, **stage_kwargs)
    return jax.tree_util.tree_map(lambda v: v.astype(jnp.float32), out)


def build_model(config) -> KNetTrack:
  """`KNetTrack` from the full config (or `config.model`)."""
  model_config = config.model if "model" in config else config
  if isinstance(model_config, ml_collections.ConfigDict):
    model_config = ml_collections.FrozenConfigDict(model_config)
  return KNetTrack(config=model_config)
