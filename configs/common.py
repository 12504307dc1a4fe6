"""Pieces the recipes share: argument parsing, normalisation, model blocks,
the K-Net optimizer, and the train loop's fields.

Numbers are the original's (video_knet_original.md 1.3-1.6); a recipe that
differs sets its own value after calling a block.
"""
from typing import Iterable

import ml_collections

# ImageNet statistics on 0..255 RGB (mmdet's img_norm_cfg).
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def parse_args(arg: str, *, file: str, choices: Iterable[str],
               exclusive: Iterable[tuple[str, ...]] = ()) -> list[str]:
  """A config argument like 'swin_b,debug' -> ['swin_b', 'debug'].

  Raises ValueError naming `file` and the choices for an unknown or repeated
  name, or for two names of one `exclusive` group.
  """
  parts = [p for p in arg.split(",") if p] if arg else []
  choices = tuple(choices)
  clash = [g for g in exclusive if sum(p in g for p in parts) > 1]
  if (any(p not in choices for p in parts) or len(set(parts)) != len(parts)
      or clash):
    raise ValueError(f"{file}: unknown or conflicting config argument {arg!r}; "
                     f"expected comma-separated names of {list(choices)}"
                     + (f", at most one of each of {list(exclusive)}"
                        if exclusive else "") + ".")
  return parts


def imagenet_normalisation(data: ml_collections.ConfigDict) -> None:
  """data.mean / data.std: the ImageNet statistics the backbones expect."""
  data.mean = IMAGENET_MEAN
  data.std = IMAGENET_STD


def resnet50_backbone() -> ml_collections.ConfigDict:
  """The detection ResNet-50 (mmdet): stem + layer1 frozen, BN statistics frozen."""
  b = ml_collections.ConfigDict()
  b.name = "resnet"
  b.stage_blocks = (3, 4, 6, 3)   # ResNet-50.
  b.base_width = 64               # stem / layer1 width; x2 per stage.
  b.frozen_stages = 1             # stem + layer1 frozen.
  b.norm_eval = True              # BatchNorm statistics frozen.
  return b


def fpn() -> ml_collections.ConfigDict:
  f = ml_collections.ConfigDict()
  f.num_outs = 4                  # P2..P5.
  return f


def semantic_fpn() -> ml_collections.ConfigDict:
  """K-Net's semantic FPN with the sine positional encoding (output stride 8)."""
  s = ml_collections.ConfigDict()
  s.num_groups = 32               # GroupNorm groups.
  s.pe_num_feats = 128            # sine PE per axis (2x = feat_channels).
  s.pe_temperature = 10000.0
  s.upsample_times = 2            # output stride 8.
  return s


def kernel_update_head(mask_upsample_stride: int) -> ml_collections.ConfigDict:
  """K-Net's kernel update head; masks upsampled x`mask_upsample_stride`
  from stride 8 for the losses."""
  u = ml_collections.ConfigDict()
  u.num_heads = 8
  u.ffn_channels = 2048
  u.num_cls_fcs = 1
  u.num_mask_fcs = 1
  u.mask_upsample_stride = mask_upsample_stride
  u.mask_thr = 0.5                # binary masks for feature assembling.
  return u


def knet_adamw(decay_epochs: tuple[int, ...]) -> ml_collections.ConfigDict:
  """The K-Net detection optimizer (section 1.6): AdamW 1e-4, weight decay
  0.05, backbone x0.25, clip 1.0, linear warmup over 1000 steps, x0.1 at
  each of `decay_epochs`."""
  o = ml_collections.ConfigDict()
  o.lr = 1e-4
  o.weight_decay = 0.05
  o.backbone_lr_mult = 0.25
  o.clip_norm = 1.0
  o.warmup_steps = 1000
  o.warmup_ratio = 0.001
  o.decay_epochs = decay_epochs
  o.decay_steps = ()              # explicit steps; used when decay_epochs is empty.
  o.decay_gamma = 0.1
  o.policy = "step"               # mmcv 'step' (the paper) or 'cosine' (CosineAnnealing).
  o.min_lr_ratio = 0.0            # cosine only: the final rate as a fraction of lr.
  return o


def init_from() -> ml_collections.ConfigDict:
  """Start from converted weights (`python -m video_knet_jax.convert import`)
  or another run's workdir: matching leaves are loaded, the rest stay at init
  (a report of both is logged); `strict` refuses any difference."""
  i = ml_collections.ConfigDict()
  i.checkpoint = ""
  i.strict = False
  return i


def tiny_knet_model(m: ml_collections.ConfigDict, resnet: bool = True) -> None:
  """The :debug model size of the K-Net family (COCO, YouTube-VIS, Video
  K-Net); `resnet=False` leaves the backbone as it is (Swin debug sizes are
  set by their own helper)."""
  m.num_proposals = 8
  m.num_stages = 2
  m.feat_channels = 32
  if resnet:
    m.backbone.stage_blocks = (1, 1, 1, 1)
    m.backbone.base_width = 8
  m.semantic_fpn.num_groups = 4
  m.semantic_fpn.pe_num_feats = 16
  m.update_head.num_heads = 4
  m.update_head.ffn_channels = 64
