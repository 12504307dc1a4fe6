"""Video K-Net `VideoKernelUpdateHead` (one stage, section 3.4) and the stage loop.

One stage: transform the shared features, sum-pool them under each kernel's
binarised mask, update the kernels with the gated `KernelUpdator`, let all
kernels of an image interact (MHA, post-LN) and pass an FFN; then predict
classes and new masks (dynamic 1x1 kernels applied to the transformed
features). At the last stage the previous frame's kernels may be fused into
the current ones (3.6) and/or linked for tracking (3.5).

The clip-level VIS heads (models/knet_track.py) run the same stage with one
kernel set per clip: given `frame_weights` [B, T], features and masks hold
B*T frames and the pooled features are averaged over each clip's frames
(extensions 3.3); the dynamic kernels then segment every frame of the clip.
For whole videos too long to hold at once, the two halves of a clip-level
stage run separately: `pool_only` gives per-frame pools to be accumulated
over chunks of frames, and `assembled` takes their clip mean back.
"""
import functools
import math
from typing import Any, Callable, Dict

import flax.linen as nn
import jax.numpy as jnp

from video_knet_jax.models import containers
from video_knet_jax.models import conv_module
from video_knet_jax.models import kernel_head
from video_knet_jax.models import kernel_updator
from video_knet_jax.models import temporal
from video_knet_jax.models import transformer_layers

XAVIER = nn.initializers.xavier_uniform()
CLS_PRIOR_PROB = 0.01  # fc_cls bias = -log((1 - p) / p) = -log(99).


class KernelUpdateHead(nn.Module):
  """One iterative stage.

  Attributes:
    num_classes: C.
    num_heads: kernel-interaction heads.
    ffn_channels: FFN hidden width.
    num_cls_fcs, num_mask_fcs: (Linear no-bias, LN, ReLU) blocks per branch.
    mask_thr: binarisation threshold for feature assembling.
    with_link: build the kernel-linking layers (3.5).
    link_type: 'ffn' (R50 configs) or 'update' (Swin configs); see `temporal`.
    with_fusion: build the kernel-fusion layers (3.6).
    fusion_update: fusion updates the previous kernels with the assembled
      features first (True, `update_dynamic_cov`); False: `link_atten`.
    dtype: compute dtype.
  """
  num_classes: int = 19
  num_heads: int = 8
  ffn_channels: int = 2048
  num_cls_fcs: int = 1
  num_mask_fcs: int = 1
  mask_thr: float = 0.5
  with_link: bool = False
  link_type: str = "ffn"
  with_fusion: bool = False
  fusion_update: bool = True
  with_cls: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x_feats, kernels, mask_logits, previous_kernels=None,
               frame_weights=None, *, assembled=None, pool_only=False):
    """x_feats [B, h, w, D], kernels [B, N, D], mask_logits [B, N, h, w],
    previous_kernels [B, N, D] or None -> (cls [B, N, C] (None without
    `with_cls`), masks [B, N, h, w], kernels [B, N, D], track kernels
    [B, N, D] (== kernels without linking)).

    Clip-level: with `frame_weights` [B, T] (1 = real frame, 0 = padding),
    x_feats [B*T, h, w, D] and mask_logits [B*T, N, h, w] are the clips'
    frames and kernels [B, N, D] one set per clip; the pooled features are the
    weighted mean over frames and masks come back as [B*T, N, h, w].

    Split clip-level stage (bounded whole-video inference): `pool_only` returns
    just the per-frame sum pools [F, N, D] of x_feats [F, h, w, D] under
    mask_logits [F, N, h, w] (kernels unused); `assembled` [B, N, D] is their
    clip mean, used instead of pooling (mask_logits unused), and masks come
    back for the frames of x_feats ([B*T, h, w, D], T from frame_weights).
    """
    d = x_feats.shape[-1]
    if previous_kernels is not None and not (self.with_link or self.with_fusion):
      raise ValueError(f"Stage {self.name} got previous kernels but has no temporal layers "
                       "(config.model.temporal.link / fusion are both off).")
    x = conv_module.ConvModule(d, 1, use_bias=True, activation=False, kernel_init=XAVIER,
                               dtype=self.dtype, name="feat_transform")(x_feats)
    if pool_only:
      return kernel_head.masked_sum_pool(mask_logits, x, self.mask_thr)   # [F, N, D]
    if assembled is None:
      assembled = kernel_head.masked_sum_pool(mask_logits, x, self.mask_thr)  # [B, N, D]
      if frame_weights is not None:    # [B*T, N, D] -> clip mean [B, N, D].
        b, t = frame_weights.shape
        w = frame_weights.astype(assembled.dtype)
        assembled = jnp.einsum("btnc,bt->bnc", assembled.reshape(b, t, *assembled.shape[1:]),
                               w / jnp.maximum(w.sum(1, keepdims=True), 1))
    elif frame_weights is None:
      raise ValueError(f"Stage {self.name}: precomputed `assembled` features are "
                       "clip-level and need frame_weights [B, T].")
    kernels = kernels.astype(self.dtype)
    temporal_kw = dict(num_heads=self.num_heads, ffn_channels=self.ffn_channels,
                       dtype=self.dtype)

    if self.with_fusion:
      fuse = functools.partial(temporal.fuse_kernels, update=self.fusion_update, **temporal_kw)
      if previous_kernels is not None:
        kernels = fuse(kernels, previous_kernels.astype(self.dtype), assembled)
      elif self.is_initializing():  # create the layers; the result is unused.
        fuse(kernels, kernels, assembled)

    obj = kernel_updator.KernelUpdator(d, d, kernel_init=XAVIER, dtype=self.dtype,
                                       name="kernel_update_conv")(assembled, kernels)
    norm = lambda name: nn.LayerNorm(epsilon=conv_module.NORM_EPS, dtype=self.dtype,
                                     name=name)
    obj = norm("attention_norm")(obj + transformer_layers.MultiheadAttention(
        d, self.num_heads, dtype=self.dtype, name="attention")(obj))
    obj = norm("ffn_norm")(obj + transformer_layers.FFN(
        d, self.ffn_channels, kernel_init=XAVIER, dtype=self.dtype, name="ffn")(obj))

    track = obj
    if self.with_link:
      if self.link_type == "ffn":
        link = temporal.link_kernels
      elif self.link_type == "update":   # P: the unfused previous kernels.
        link = functools.partial(temporal.update_link_kernels, assembled=assembled)
      else:
        raise ValueError(f"config.model.temporal.link_type={self.link_type!r}; "
                         "expected 'ffn' or 'update'.")
      if previous_kernels is not None:
        track = link(obj, previous_kernels.astype(self.dtype), **temporal_kw)
      elif self.is_initializing():
        link(obj, obj, **temporal_kw)

    def fcs(num, name):
      block = (functools.partial(nn.Dense, d, use_bias=False, kernel_init=XAVIER,
                                 dtype=self.dtype),
               functools.partial(nn.LayerNorm, epsilon=conv_module.NORM_EPS, dtype=self.dtype),
               nn.relu)
      return containers.Sequential(layers=block * num, name=name)

    cls = None
    if self.with_cls:
      cls = fcs(self.num_cls_fcs, "cls_fcs")(obj)
      cls = nn.Dense(self.num_classes, kernel_init=XAVIER,
                     bias_init=nn.initializers.constant(
                         -math.log((1 - CLS_PRIOR_PROB) / CLS_PRIOR_PROB)),
                     dtype=self.dtype, name="fc_cls")(cls)               # [B, N, C]
    mask_kernels = fcs(self.num_mask_fcs, "mask_fcs")(obj)
    mask_kernels = nn.Dense(d, kernel_init=XAVIER, dtype=self.dtype,
                            name="fc_mask")(mask_kernels)                 # [B, N, D]
    if frame_weights is not None:    # one kernel set per clip -> every frame.
      mask_kernels = jnp.repeat(mask_kernels, frame_weights.shape[1], axis=0)
    masks = jnp.einsum("bnc,bhwc->bnhw", mask_kernels, x)                 # [B, N, h, w]
    return cls, masks, obj, track


# Keys of the dict returned by `KernelIterHead` (internal to the model).
STAGE_MASKS = "stage_masks"    # [S, B, N, h, w]
STAGE_CLS = "stage_cls"        # [S, B, N, C]
OBJ = "obj"                    # [B, N, D] last-stage kernels.
TRACK = "track"                # [B, N, D] linked last-stage kernels.


class KernelIterHead(nn.Module):
  """`roi_head.mask_head`: stages '0'..'S-1'; one stage sees previous kernels.

  Attributes:
    num_stages: S.
    stage: `KernelUpdateHead` factory (a partial; name and with_* are set here).
    link, fusion: enable the temporal layers at the linking stage.
    link_all_stages: also build them (unused) in the other stages, the original
      layout, so that the params match the torch state_dict key set.
    link_stage: 0-based stage where the previous frame's kernels enter (fusion
      and linking); -1 = the last (the original; the paper's stage ablation
      moves it). TRACK is that stage's linked kernels.
  """
  num_stages: int = 3
  stage: Callable[..., KernelUpdateHead] = KernelUpdateHead
  link: bool = True
  fusion: bool = False
  link_all_stages: bool = False
  link_stage: int = -1

  @nn.compact
  def __call__(self, x_feats, kernels, mask_logits, previous_kernels=None
               ) -> Dict[str, jnp.ndarray]:
    link_stage = self.link_stage % self.num_stages
    if not -self.num_stages <= self.link_stage < self.num_stages:
      raise ValueError(f"Linking stage {self.link_stage} does not exist in {self.num_stages} "
                       "stages (config.model.temporal.link_stage).")
    stage_masks, stage_cls = [], []
    track = None
    for s in range(self.num_stages):
      linking = s == link_stage
      has_temporal = linking or self.link_all_stages
      head = self.stage(name=str(s), with_link=self.link and has_temporal,
                              with_fusion=self.fusion and has_temporal)
      # Without temporal layers (link and fusion off) previous kernels have no effect.
      uses_previous = linking and (self.link or self.fusion)
      cls, mask_logits, kernels, stage_track = head(
          x_feats, kernels, mask_logits, previous_kernels if uses_previous else None)
      if linking and self.link:
        track = stage_track
      stage_masks.append(mask_logits)
      stage_cls.append(cls)
    return {STAGE_MASKS: jnp.stack(stage_masks), STAGE_CLS: jnp.stack(stage_cls),
            OBJ: kernels, TRACK: kernels if track is None else track}


class RoIHead(nn.Module):
  """`roi_head`: holds `mask_head` only (mirrors the torch nesting).

  Attributes:
    mask_head: `KernelIterHead` factory (a partial).
  """
  mask_head: Callable[..., KernelIterHead] = KernelIterHead

  @nn.compact
  def __call__(self, *args, **kwargs) -> Dict[str, jnp.ndarray]:
    return self.mask_head(name="mask_head")(*args, **kwargs)
