"""K-Net `ConvKernelHead` ("rpn_head"): initial kernels and masks (section 3.3).

thing kernels = init_kernels weights (one 1x1-conv filter per proposal) plus
the sum-pooled features under their own binarised initial masks;
stuff kernels = the conv_seg filter rows of the stuff classes (bias unused, no
pooled feature). The returned `x_feats = loc + sem` is the single feature map
every update stage reads.
"""
import functools
from typing import Any, Dict

import flax.linen as nn
import jax
import jax.numpy as jnp

from video_knet_jax.models import containers
from video_knet_jax.models import conv_module
from video_knet_jax.models import semantic_fpn

# Keys of the dict returned by `ConvKernelHead` (internal to the model).
THING_MASKS = "thing_masks"   # [B, P, h, w] initial thing mask logits.
SEG_LOGITS = "seg_logits"     # [B, C, h, w] conv_seg logits.
X_FEATS = "x_feats"           # [B, h, w, D] loc + sem features.
KERNELS = "kernels"           # [B, N, D] initial kernels, things then stuff.
MASKS = "masks"               # [B, N, h, w] initial masks, things then stuff.


def masked_sum_pool(mask_logits: jnp.ndarray, feats: jnp.ndarray,
                    thr: float) -> jnp.ndarray:
  """Sum of `feats` over the pixels where sigmoid(mask) > thr (not a mean).

  mask_logits: [B, N, h, w]; feats: [B, h, w, D] -> [B, N, D]. The hard mask
  carries no gradient, as in the original (`(sigmoid(m) > thr).float()`).
  """
  binary = (jax.nn.sigmoid(mask_logits.astype(jnp.float32)) > thr).astype(feats.dtype)
  return jnp.einsum("bnhw,bhwc->bnc", binary, feats)


def conv1x1_as_matrix(kernel: jnp.ndarray) -> jnp.ndarray:
  """A 1x1 conv kernel [1, 1, D, K] (HWIO) as K kernel vectors [K, D]."""
  return kernel[0, 0].T


class ConvKernelHead(nn.Module):
  """(P2..P5) -> initial kernels, masks and semantic logits at stride 8.

  Attributes:
    num_proposals: P thing kernels.
    num_classes: C semantic classes (things first).
    num_thing_classes: leading classes that are things; the rest are stuff.
    feat_channels: D.
    num_groups: GroupNorm groups.
    upsample_times, pe_num_feats, pe_temperature: `SemanticFPN` settings.
    mask_thr: binarisation threshold of the initial masks.
    num_loc_convs, num_seg_convs: ConvModules before the kernels / conv_seg.
    dtype: compute dtype.
  """
  num_proposals: int = 100
  num_classes: int = 19
  num_thing_classes: int = 2
  feat_channels: int = 256
  num_groups: int = 32
  upsample_times: int = 2
  pe_num_feats: int = 128
  pe_temperature: float = 10000.0
  mask_thr: float = 0.5
  num_loc_convs: int = 1
  num_seg_convs: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, feats) -> Dict[str, jnp.ndarray]:
    thing_feat, stuff_feat = semantic_fpn.SemanticFPN(
        feat_channels=self.feat_channels, out_channels=self.feat_channels,
        num_groups=self.num_groups, upsample_times=self.upsample_times,
        pe_num_feats=self.pe_num_feats, pe_temperature=self.pe_temperature,
        dtype=self.dtype, name="localization_fpn")(feats)
    conv = functools.partial(conv_module.ConvModule, self.feat_channels, 1,
                             num_groups=self.num_groups,
                             kernel_init=conv_module.normal_init(0.01), dtype=self.dtype)
    loc = containers.ModuleList(layers=[conv] * self.num_loc_convs, name="loc_convs")(thing_feat)
    sem = containers.ModuleList(layers=[conv] * self.num_seg_convs, name="seg_convs")(stuff_feat)

    init_kernels = nn.Conv(self.num_proposals, (1, 1), use_bias=False,
                           kernel_init=conv_module.normal_init(1.0), dtype=self.dtype,
                           name="init_kernels")
    conv_seg = nn.Conv(self.num_classes, (1, 1), use_bias=True,
                       kernel_init=conv_module.normal_init(0.01),
                       bias_init=nn.initializers.zeros, dtype=self.dtype, name="conv_seg")
    thing_masks = init_kernels(loc).transpose(0, 3, 1, 2)  # [B, P, h, w]
    seg_logits = conv_seg(sem).transpose(0, 3, 1, 2)       # [B, C, h, w]

    x_feats = sem + loc                                     # [B, h, w, D]
    thing_kernels = conv1x1_as_matrix(init_kernels.variables["params"]["kernel"])  # [P, D]
    thing_kernels = thing_kernels.astype(self.dtype)[None] + masked_sum_pool(
        thing_masks, x_feats, self.mask_thr)                # [B, P, D]
    stuff_kernels = conv1x1_as_matrix(
        conv_seg.variables["params"]["kernel"])[self.num_thing_classes:]  # [S, D]
    stuff_kernels = jnp.broadcast_to(stuff_kernels.astype(self.dtype)[None],
                                     (x_feats.shape[0], *stuff_kernels.shape))
    return {
        THING_MASKS: thing_masks,
        SEG_LOGITS: seg_logits,
        X_FEATS: x_feats,
        KERNELS: jnp.concatenate([thing_kernels, stuff_kernels], axis=1),
        MASKS: jnp.concatenate([thing_masks, seg_logits[:, self.num_thing_classes:]], axis=1),
    }
