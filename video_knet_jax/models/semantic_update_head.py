"""K-Net's semantic `KernelUpdateHead` and `IterativeDecodeHead` (video_knet_extensions.md 4.2).

Class kernels (one per class, initially the base head's `conv_seg` filters)
are refined in S stages. One stage:
  x = feat_transform(feats)                          1x1 conv + bias
  P = softmax over classes of the previous logits    (soft, not thresholded)
  F = einsum(P, x)                                   [B, K, C], a sum
  K = KernelUpdator(F, K)                            rows of 256 (shared weights)
  K = LN(K + MHA(K));  K = LN(K + FFN(K))
  logits = einsum(fc_mask(ReLU(LN(Linear(K)))), x)   no class branch
Video extension (4.3): at the last stage, previous-frame kernels are fused in
first by `temporal.fuse_kernels` (the Video K-Net fusion, same layer names).
The kernel machinery (updator, attention, FFN, fusion) is the shared one.
"""
import functools
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from video_knet_jax.models import containers
from video_knet_jax.models import conv_module
from video_knet_jax.models import decode_heads
from video_knet_jax.models import kernel_head
from video_knet_jax.models import kernel_updator
from video_knet_jax.models import temporal
from video_knet_jax.models import transformer_layers

# torch nn.Linear / Conv2d default weight init: U(+-1/sqrt(fan_in)) (the update
# heads keep PyTorch's defaults, 4.2; biases start at 0 here).
TORCH_DEFAULT = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")

# Keys of the dict returned by `IterativeDecodeHead`.
BASE_LOGITS = "base_logits"      # [B, K, h, w] conv_seg logits of the base head.
STAGE_LOGITS = "stage_logits"    # [S, B, K, h, w] logits after each update stage.
KERNELS = "kernels"              # [B, K, C] last-stage class kernels.


class SemanticKernelUpdateHead(nn.Module):
  """One stage over class kernels.

  Attributes:
    num_heads: kernel-interaction heads.
    ffn_channels: FFN hidden width.
    num_mask_fcs: (Linear no-bias, LN, ReLU) blocks before fc_mask.
    updator_rows: the KernelUpdator's row width (256 in K-Net's configs).
    with_fusion: build the fusion layers (video extension, last stage).
    dtype: compute dtype.
  """
  num_heads: int = 8
  ffn_channels: int = 2048
  num_mask_fcs: int = 1
  updator_rows: int = 256
  with_fusion: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, feats, kernels, logits, previous_kernels=None
               ) -> Tuple[jnp.ndarray, jnp.ndarray]:
    """feats [B, h, w, C], kernels [B, K, C], logits [B, K, h', w'],
    previous_kernels [B, K, C] or None -> (logits [B, K, h, w], kernels [B, K, C])."""
    c = feats.shape[-1]
    if previous_kernels is not None and not self.with_fusion:
      raise ValueError(f"Stage {self.name} got previous kernels but has no fusion layers "
                       "(config.model.temporal.fusion is off).")
    x = conv_module.ConvModule(c, 1, use_bias=True, activation=False,
                               kernel_init=TORCH_DEFAULT, dtype=self.dtype,
                               name="feat_transform")(feats)
    if logits.shape[-2:] != x.shape[1:3]:
      logits = jax.image.resize(logits, (*logits.shape[:2], *x.shape[1:3]), "bilinear",
                                antialias=False)
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=1).astype(self.dtype)
    assembled = jnp.einsum("bkhw,bhwc->bkc", probs, x)                   # [B, K, C]
    kernels = kernels.astype(self.dtype)
    if self.with_fusion:
      fuse = functools.partial(temporal.fuse_kernels, num_heads=self.num_heads,
                               ffn_channels=self.ffn_channels, dtype=self.dtype,
                               updator_rows=self.updator_rows)
      if previous_kernels is not None:
        kernels = fuse(kernels, previous_kernels.astype(self.dtype), assembled)
      elif self.is_initializing():   # create the layers; the result is unused.
        fuse(kernels, kernels, assembled)

    obj = kernel_updator.KernelUpdator(self.updator_rows, self.updator_rows,
                                       kernel_init=TORCH_DEFAULT, in_channels=self.updator_rows,
                                       dtype=self.dtype, name="kernel_update_conv")(
                                           assembled, kernels)
    norm = lambda name: nn.LayerNorm(epsilon=conv_module.NORM_EPS, dtype=self.dtype, name=name)
    obj = norm("attention_norm")(obj + transformer_layers.MultiheadAttention(
        c, self.num_heads, dtype=self.dtype, name="attention")(obj))
    obj = norm("ffn_norm")(obj + transformer_layers.FFN(
        c, self.ffn_channels, kernel_init=TORCH_DEFAULT, dtype=self.dtype, name="ffn")(obj))
    block = (functools.partial(nn.Dense, c, use_bias=False, kernel_init=TORCH_DEFAULT,
                               dtype=self.dtype),
             functools.partial(nn.LayerNorm, epsilon=conv_module.NORM_EPS, dtype=self.dtype),
             nn.relu)
    mask_kernels = containers.Sequential(layers=block * self.num_mask_fcs, name="mask_fcs")(obj)
    mask_kernels = nn.Dense(c, kernel_init=TORCH_DEFAULT, dtype=self.dtype,
                            name="fc_mask")(mask_kernels)                 # [B, K, C]
    return jnp.einsum("bkc,bhwc->bkhw", mask_kernels, x), obj


class _StageList(nn.Module):
  """`kernel_update_head` (a torch ModuleList): stages '0'..'S-1' applied in turn;
  only the last one sees the previous frame's kernels."""
  num_stages: int
  stage: Callable[..., SemanticKernelUpdateHead]
  fusion: bool = False

  @nn.compact
  def __call__(self, feats, kernels, logits, previous_kernels=None):
    stage_logits = []
    for s in range(self.num_stages):
      last = s == self.num_stages - 1
      logits, kernels = self.stage(name=str(s), with_fusion=self.fusion and last)(
          feats, kernels, logits, previous_kernels if last else None)
      stage_logits.append(logits)
    return jnp.stack(stage_logits), kernels


class IterativeDecodeHead(nn.Module):
  """`decode_head`: base head (`kernel_generate_head`) + S kernel update stages.

  Attributes:
    num_classes: K.
    base_head: 'psp' or 'deeplabv3plus'.
    channels: C, the base head's feature width (512).
    dropout_ratio: Dropout2d before conv_seg (0.1).
    num_stages: S (3).
    stage: `SemanticKernelUpdateHead` factory (name / with_fusion set here).
    fusion: fuse previous-frame kernels at the last stage.
    norm_eval: freeze the base head's BN statistics.
    dtype: compute dtype.
  """
  num_classes: int
  base_head: str = "psp"
  channels: int = 512
  dropout_ratio: float = 0.1
  num_stages: int = 3
  stage: Callable[..., SemanticKernelUpdateHead] = SemanticKernelUpdateHead
  fusion: bool = False
  norm_eval: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, backbone_feats: Sequence[jnp.ndarray],
               previous_kernels: Optional[jnp.ndarray] = None, *, train: bool = False
               ) -> Dict[str, jnp.ndarray]:
    feats, base_logits, kernels = KernelGenerateHead(
        self.num_classes, self.base_head, self.channels, self.dropout_ratio, self.norm_eval,
        self.dtype, name="kernel_generate_head")(backbone_feats, train)
    if previous_kernels is not None and previous_kernels.shape != kernels.shape:
      raise ValueError(f"previous_kernels has shape {previous_kernels.shape}; expected "
                       f"{kernels.shape} (a previous output's kernels).")
    stage_logits, kernels = _StageList(self.num_stages, self.stage, self.fusion,
                                       name="kernel_update_head")(
                                           feats, kernels, base_logits, previous_kernels)
    return {BASE_LOGITS: base_logits, STAGE_LOGITS: stage_logits, KERNELS: kernels}


class KernelGenerateHead(nn.Module):
  """The base decode head plus its `conv_seg`, whose filters are the initial kernels.

  backbone feats -> (features [B, h, w, C], logits [B, K, h, w], kernels [B, K, C]).
  The kernels are the conv_seg weight itself (gradients reach it twice, as in
  K-Net's `conv_seg.weight.clone()`).
  """
  num_classes: int
  base_head: str = "psp"
  channels: int = 512
  dropout_ratio: float = 0.1
  norm_eval: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, backbone_feats, train: bool = False):
    if self.base_head not in decode_heads.BASE_HEADS:
      raise ValueError(f"config.model.decode_head.base_head={self.base_head!r}; expected "
                       f"one of {sorted(decode_heads.BASE_HEADS)}.")
    feats = decode_heads.BASE_HEADS[self.base_head](
        backbone_feats, channels=self.channels, norm_eval=self.norm_eval, dtype=self.dtype,
        train=train)
    dropped = nn.Dropout(self.dropout_ratio, broadcast_dims=(1, 2),
                         deterministic=not train)(feats)
    conv_seg = nn.Conv(self.num_classes, (1, 1), kernel_init=nn.initializers.normal(0.01),
                       dtype=self.dtype, name="conv_seg")
    logits = conv_seg(dropped).transpose(0, 3, 1, 2)                 # [B, K, h, w]
    kernels = kernel_head.conv1x1_as_matrix(conv_seg.variables["params"]["kernel"])
    kernels = jnp.broadcast_to(kernels.astype(self.dtype)[None],
                               (feats.shape[0], *kernels.shape))    # [B, K, C]
    return feats, logits, kernels
