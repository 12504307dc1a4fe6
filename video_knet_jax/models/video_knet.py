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

`config.model.temporal.embedding` picks the association embedding (the
paper's appearance-embedding ablation): 'kernels' (the released model, above),
'roi_align' (QDTrack's embed head on RoI-Align features of a box around each
mask), 'mask_emb' (the track head on x_feats mean-pooled under each mask) or
'kernels+mask_emb' (the track head on fc_embed(embed_fcs(track kernel)) plus
that mean-pooled feature). The mask-based ones embed given masks, not
proposals: GT masks in training (`clip_forward(..., thing_masks=)`, output
MASK_TRACK_EMBEDDINGS), the predicted segments at test (`embed_masks`).

Masks stay at stride 8; the losses bring them to stride 2
(`losses.resampling.upsample_logits`). The parameter tree mirrors the torch
state_dict (notes/param_naming.md), so one key table converts checkpoints.
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
from video_knet_jax.models import roi_align

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}
SIZE_DIVISOR = 32
EMBEDDINGS = ("kernels", "roi_align", "mask_emb", "kernels+mask_emb")


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
        link_type=t.get("link_type", "ffn"), fusion_update=t.get("fusion_update", True),
        dtype=dtype)
    self.temporal = is_temporal(c)
    self.embedding = embedding_kind(c)
    self.uses_kernels = self.embedding in ("kernels", "kernels+mask_emb")
    # As in the original, the linking layers follow temporal.link alone: with a
    # mask-based embedding their output (TRACK_KERNELS) feeds nothing.
    self.roi_head = kernel_update_head.RoIHead(mask_head=functools.partial(
        kernel_update_head.KernelIterHead, num_stages=c.num_stages, stage=stage,
        link=self.temporal and t.link, fusion=self.temporal and t.fusion,
        link_all_stages=t.link_all_stages, link_stage=link_stage_index(c)))
    if self.temporal:  # the image K-Net has no tracking embedding.
      if self.uses_kernels:
        self.embed_fcs = embedding_head.make_embed_fcs(d, dtype)
        self.fc_embed = embedding_head.make_fc_embed(d, dtype)
      if self.embedding == "roi_align":
        r = t.roi_embed
        self.track_head = embedding_head.QDTrackEmbedHead(
            num_convs=r.num_convs, conv_channels=d, num_groups=r.num_groups,
            num_fcs=r.num_fcs, fc_channels=r.fc_channels, embed_channels=t.embed_channels,
            dtype=dtype)
      else:
        self.track_head = embedding_head.TrackHead(
            fc_channels=d, embed_channels=t.embed_channels, num_fcs=t.track_num_fcs,
            dtype=dtype)

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
            previous_kernels: Optional[jnp.ndarray] = None,
            embed_masks: Optional[jnp.ndarray] = None) -> Dict[str, jnp.ndarray]:
    """FPN levels (+ previous frame's KERNELS [B, N, D]) -> the output dict.

    embed_masks [B, M, H, W] (GT thing masks at the input size): with a
    mask-based embedding, MASK_TRACK_EMBEDDINGS [B, M, E] embeds them
    ([B, P, M, E] for 'kernels+mask_emb': every proposal with every mask).
    """
    return self._heads(feats, previous_kernels, embed_masks)[0]

  def _heads(self, feats, previous_kernels=None, embed_masks=None):
    """`heads`, plus the rpn x_feats [B, h, w, D]."""
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
    things = track[:, :self.config.num_proposals]
    if self.temporal and self.embedding == "kernels":
      out[common.TRACK_EMBEDDINGS] = self.track_head(self.fc_embed(self.embed_fcs(things)))
    elif self.temporal:
      if embed_masks is None and self.is_initializing():   # create the layers.
        embed_masks = jnp.zeros((things.shape[0], 1) + feats[0].shape[1:3])
      if embed_masks is not None:
        out[common.MASK_TRACK_EMBEDDINGS] = self.embed_masks(
            feats, rpn[kernel_head.X_FEATS], embed_masks, things, pairwise=True)
    return {k: v.astype(jnp.float32) for k, v in out.items()}, rpn[kernel_head.X_FEATS]

  def embed_masks(self, feats: Sequence[jnp.ndarray], x_feats: jnp.ndarray,
                  masks: jnp.ndarray, kernels: Optional[jnp.ndarray] = None, *,
                  pairwise: bool = False) -> jnp.ndarray:
    """Mask-based association embeddings (`config.model.temporal.embedding`).

    feats: FPN levels P2..P5 [B, H/s, W/s, D]; x_feats [B, h, w, D];
    masks [B, K, H', W'] (nonzero = inside; H', W' the input size for
    'roi_align', whose boxes are in its pixels); kernels: track kernels of the
    things, [B, K, D] aligned with the masks or, `pairwise`, [B, P, D].
    Returns [B, K, E] float32 ([B, P, K, E] pairwise 'kernels+mask_emb').
    """
    b, k = masks.shape[:2]
    if self.embedding == "roi_align":
      r = self.config.temporal.roi_embed
      height = masks.shape[2]
      strides = [height // f.shape[1] for f in feats]
      boxes = jax.vmap(roi_align.mask_boxes)(masks)                       # [B, K, 4]
      rois = jax.vmap(lambda levels, bx: roi_align.multi_level_roi_align(
          levels, strides, bx, r.output_size, r.sampling_ratio))(list(feats), boxes)
      out = self.track_head(rois.reshape(b * k, *rois.shape[2:]).astype(x_feats.dtype))
      return out.reshape(b, k, -1).astype(jnp.float32)
    pooled = embedding_head.mask_mean_pool(x_feats, masks)               # [B, K, D]
    if self.embedding == "mask_emb":
      return self.track_head(pooled).astype(jnp.float32)
    kernel_part = self.fc_embed(self.embed_fcs(kernels))                 # [B, K|P, D]
    if pairwise:
      return self.track_head(kernel_part[:, :, None] + pooled[:, None]).astype(jnp.float32)
    return self.track_head(kernel_part + pooled).astype(jnp.float32)

  def __call__(self, images: jnp.ndarray, previous_kernels: Optional[jnp.ndarray] = None, *,
               train: bool = False) -> Dict[str, jnp.ndarray]:
    """images [B, H, W, 3] -> dict of `common` model outputs (see module doc)."""
    return self.heads(self.extract_feats(images, train), previous_kernels)

  def forward_with_features(self, images: jnp.ndarray,
                            previous_kernels: Optional[jnp.ndarray] = None):
    """Inference with a mask-based embedding: (`__call__`'s dict, (FPN levels,
    x_feats)) so that `embed_masks` can embed the merged segments after."""
    feats = self.extract_feats(images, False)
    out, x_feats = self._heads(feats, previous_kernels)
    return out, (feats, x_feats)

  def clip_forward(self, images: jnp.ndarray, *, train: bool = False,
                   thing_masks: Optional[jnp.ndarray] = None
                   ) -> List[Dict[str, jnp.ndarray]]:
    """Training clip [B, T, H, W, 3] (T index 0 = key, 1.. = references) -> T output dicts.

    Backbone and neck run once on all B*T frames. The references go through
    the heads together without previous kernels; the key frame then gets the
    first reference's KERNELS as previous kernels (not detached: the
    linking/fusion gradients reach the reference branch, as in training).
    thing_masks [B, T, M, H, W] (the batch's GT): embedded per frame by a
    mask-based embedding (see `heads`); ignored by the kernel embedding.
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
    masks = [None, None]
    if thing_masks is not None and self.embedding != "kernels":
      masks = [thing_masks[:, 0], thing_masks[:, 1:].reshape(b * (t - 1), *thing_masks.shape[2:])]
    ref_out = self.heads([f[:, 1:].reshape(b * (t - 1), *f.shape[2:]) for f in feats],
                         embed_masks=masks[1])
    refs = [{k: _take_frame(k, v, b, t - 1, i) for k, v in ref_out.items()}
            for i in range(t - 1)]
    key = self.heads([f[:, 0] for f in feats], previous_kernels=refs[0][common.KERNELS],
                     embed_masks=masks[0])
    return [key, *refs]


def _take_frame(key: str, value: jnp.ndarray, b: int, t: int, i: int) -> jnp.ndarray:
  """Frame i of a [.., B*T, ..] output (batch axis 1 for the per-stage outputs)."""
  axis = 1 if key in (common.STAGE_MASK_LOGITS, common.STAGE_CLS_LOGITS) else 0
  shape = value.shape
  value = value.reshape(*shape[:axis], b, t, *shape[axis + 1:])
  return jnp.take(value, i, axis=axis + 1)


def embedding_kind(model_config) -> str:
  """`config.model.temporal.embedding` (default 'kernels'), checked."""
  kind = model_config.temporal.get("embedding", "kernels")
  if kind not in EMBEDDINGS:
    raise ValueError(f"config.model.temporal.embedding={kind!r}; expected one of {EMBEDDINGS}.")
  return kind


def link_stage_index(model_config) -> int:
  """`config.model.temporal.link_stage` (1-based, the paper's numbering; -1 =
  the last stage, the default) as a 0-based stage index (-1 = last)."""
  stage = int(model_config.temporal.get("link_stage", -1))
  if stage == -1:
    return -1
  if not 1 <= stage <= model_config.num_stages:
    raise ValueError(f"config.model.temporal.link_stage={stage}; expected -1 (last) or "
                     f"1..{model_config.num_stages} (config.model.num_stages).")
  return stage - 1


def clip_inputs(config, batch) -> Dict[str, Any]:
  """Keyword arguments of `clip_forward` a training batch adds: its GT thing
  masks, for a mask-based embedding (none for the released model)."""
  if not is_temporal(config.model) or embedding_kind(config.model) == "kernels":
    return {}
  return {"thing_masks": batch[common.THING_MASKS]}


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
