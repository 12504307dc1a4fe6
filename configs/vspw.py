r"""Semantic K-Net (+ kernel fusion across frames), ResNet-101-d8, VSPW.

Numbers: K-Net's semantic configs (`K-Net:configs/seg/knet/*`, ADE20K recipe)
and the paper's VSPW row (video_knet_extensions.md 4.1-4.3; training clip
length, resolution and schedule for VSPW are not published, so the data and
schedule values below are the inferred ones named there).

  python train.py --config=configs/vspw.py:pspnet --workdir=DIR
  python train.py --config=configs/vspw.py:deeplabv3plus --workdir=DIR
  python train.py --config=configs/vspw.py:debug --workdir=DIR     # generated set, tiny
Variants are comma-separated: `:deeplabv3plus,frame` turns the video
extension (kernel fusion) off, the paper's per-frame baseline.
"""
import ml_collections

from video_knet_jax.configs import common

# VSPW label space (datasets/vspw/facts.py): raw 1..124 -> train ids 0..123;
# raw 0 ("others") and 255 (void) are ignored.
NUM_CLASSES = 124
IGNORE_LABEL = 255


def get_model_config(base_head: str = "psp") -> ml_collections.ConfigDict:
  """The full-size semantic K-Net (4.2) with the fusion video extension (4.3)."""
  m = ml_collections.ConfigDict()
  m.num_classes = NUM_CLASSES
  m.num_stages = 3                          # kernel update stages (knet_s3).

  m.backbone = ml_collections.ConfigDict()
  m.backbone.name = "resnet"
  m.backbone.stage_blocks = (3, 4, 23, 3)   # ResNet-101.
  m.backbone.base_width = 64
  m.backbone.deep_stem = True               # ResNetV1c (open-mmlab://resnet101_v1c).
  m.backbone.strides = (1, 2, 1, 1)         # d8: output stride 8.
  m.backbone.dilations = (1, 1, 2, 4)
  m.backbone.contract_dilation = True
  m.backbone.norm_eval = False              # SyncBN trained.
  m.backbone.frozen_stages = -1

  m.decode_head = ml_collections.ConfigDict()
  m.decode_head.base_head = base_head       # 'psp' | 'deeplabv3plus'.
  m.decode_head.channels = 512              # head width = kernel width C.
  m.decode_head.dropout_ratio = 0.1         # Dropout2d before conv_seg.

  m.update_head = ml_collections.ConfigDict()
  m.update_head.num_heads = 8
  m.update_head.ffn_channels = 2048
  m.update_head.num_mask_fcs = 1
  m.update_head.updator_rows = 256          # KernelUpdator in=feat=out=256 on 512-d kernels.

  m.auxiliary_head = ml_collections.ConfigDict()
  m.auxiliary_head.enabled = True           # FCNHead on C4 (training loss only).
  m.auxiliary_head.channels = 256

  m.temporal = ml_collections.ConfigDict()
  m.temporal.fusion = True                  # fuse the previous frame's kernels (4.3).
  m.dtype = "float32"
  return m


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  """`arg`: comma-separated of 'pspnet' (default), 'deeplabv3plus', 'debug', 'frame'."""
  args = common.parse_args(arg, file="configs/vspw.py",
                           choices=("pspnet", "deeplabv3plus", "debug", "frame"),
                           exclusive=[("pspnet", "deeplabv3plus")])
  config = ml_collections.ConfigDict()
  config.task = "semantic"                  # video_knet_jax/tasks/semantic.py.
  config.seed = 0

  # --------------------------------------------------------------- data
  config.data = ml_collections.ConfigDict()
  config.data.name = "vspw"
  config.data.data_dir = ""                # TFDS data_dir ('' = TFDS default).
  config.data.manual_dir = ""              # the VSPW_480p tree (or its parent).
  config.data.train_split = "train"
  config.data.eval_split = "val"
  config.data.num_classes = NUM_CLASSES
  config.data.ignore_label = IGNORE_LABEL
  # Sibling repo's VSPW pipeline (Tube-Link, 4.3): short side 720 x U[1, 2],
  # flip, crop 736; one reference frame at an offset from ref_offsets.
  config.data.base_size = (720, 4096)       # (short, long) at scale 1: short side 720.
  config.data.scale_range = (1.0, 2.0)
  config.data.crop_size = (736, 736)
  config.data.flip_prob = 0.5
  config.data.ref_offsets = (-2, -1, 1, 2)
  config.data.size_divisor = 32
  common.imagenet_normalisation(config.data)
  # Evaluation runs on frames as stored (VSPW_480p), padded to size_divisor.
  config.data.generated = ml_collections.ConfigDict()   # non-empty: a generated set (datasets/registry.py).
  config.data.device_prefetch = 1           # batches transferred ahead of the step.

  # -------------------------------------------------------------- model
  base = "deeplabv3plus" if "deeplabv3plus" in args else "psp"
  config.model = get_model_config(base)
  if "frame" in args:
    config.model.temporal.fusion = False

  # --------------------------------------------------------------- loss
  config.loss = ml_collections.ConfigDict()
  config.loss.base = 1.0                    # CE on the base head's logits.
  config.loss.stage_weights = (1.0, 1.0, 1.0)   # CE per update stage.
  config.loss.aux = 0.4                     # FCN auxiliary CE.
  config.loss.reference = 1.0               # the reference frame's losses (same CE, 4.3).

  # ---------------------------------------------------------- optimiser (K-Net ADE20K)
  config.optim = ml_collections.ConfigDict()
  config.optim.lr = 1e-4                    # AdamW.
  config.optim.weight_decay = 5e-4
  config.optim.clip_norm = 1.0
  config.optim.warmup_steps = 1000
  config.optim.warmup_ratio = 1e-3
  config.optim.decay_steps = (60_000, 72_000)
  config.optim.decay_gamma = 0.1

  # ----------------------------------------------------------- schedule
  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 16              # 2 clips/GPU x 8.
  config.train.num_steps = 80_000
  config.train.log_every_steps = 50
  config.train.checkpoint_every_steps = 4000
  config.train.keep_checkpoints = 3
  # In-training evaluation (metrics only, WORKDIR/eval/step_<N>): at the end
  # of the schedule; 0 = never (evaluate.py scores the checkpoint).
  config.train.eval_every_steps = 80_000
  # Non-finite loss or gradients: 0 stops at once naming the step; N > 0 skips
  # such a step's update up to N times in a run.
  config.train.max_skipped_steps = 0

  config.eval = ml_collections.ConfigDict()
  config.eval.vc_windows = (8, 16)          # mVC_8, mVC_16.
  config.eval.num_gif_videos = 1            # overlay GIFs written by evaluate.

  config.mesh = (("data", -1),)
  config.init_from = common.init_from()     # e.g. converted ImageNet / ADE20K weights.
  if "debug" in args:
    apply_debug(config)
  return config


def apply_debug(config: ml_collections.ConfigDict) -> None:
  """Tiny model on the generated VSPW-format set (datasets/vspw/generate.py)."""
  m = config.model
  m.num_stages = 2
  m.backbone.stage_blocks = (1, 1, 1, 1)
  m.backbone.base_width = 8
  m.decode_head.channels = 32
  m.update_head.num_heads = 4
  m.update_head.ffn_channels = 64
  m.update_head.updator_rows = 16
  m.auxiliary_head.channels = 16
  config.data.generated = ml_collections.ConfigDict(dict(
      seed=0, videos=(("train", 4), ("val", 2)), frames_per_video=20, height=64, width=64,
      noise=12.0))
  config.data.base_size = (64, 512)
  config.data.scale_range = (1.0, 1.25)
  config.data.crop_size = (64, 64)
  config.loss.stage_weights = (1.0, 1.0)
  config.optim.lr = 1e-3
  config.optim.warmup_steps = 5
  config.optim.decay_steps = ()
  config.train.batch_size = 2
  config.train.num_steps = 20
  config.train.eval_every_steps = 20
  config.train.log_every_steps = 5
  config.train.checkpoint_every_steps = 10
