"""YouTube-VIS 2019 with the clip-level KNetTrack (extensions section 3).

`get_config()` is the original's R50 recipe (knet_track_r50_1x_youtubevis):
40 thing classes, 100 proposals, 3 per-frame + 3 clip stages, 5-frame clips
with short side in {288..512}, AdamW 1e-4 (backbone x0.25), 12 epochs with
steps at 8 and 11, 2 clips per GPU x 8 GPUs, tested at 640x360.
`get_config('debug')` shrinks it to a tiny model on a generated
YouTube-VIS-format set (datasets/youtube_vis/generate.py).

  python train.py --config=configs/youtube_vis.py --workdir=DIR
  python train.py --config=configs/youtube_vis.py:swin_b --workdir=DIR        # Swin-B
  python train.py --config=configs/youtube_vis.py:swin_b,debug --workdir=DIR  # tiny Swin
  python train.py --config=configs/youtube_vis.py:deformable --workdir=DIR    # R50 + deformable neck
  python train.py --config=configs/youtube_vis.py:swin_b,deformable --workdir=DIR

Arguments are comma-separated: an optional `swin_b` (the original's
knet_track_swinb_1x_youtubevis_8e: Swin-B with plain FPN, 8 epochs with a
step at 7, 1 clip per GPU x 8 GPUs; shared Swin numbers in
configs/swin_recipes.py), optionally `deformable` (the MSDeformAttnPixelDecoder
neck of knet_track_{r50_deformable_fpn,swinb_deformable}_1x_youtubevis; see
`apply_deformable`) and optionally `debug`.
"""
import ml_collections

from video_knet_jax.configs import common
from video_knet_jax.configs import deformable_recipes
from video_knet_jax.configs import swin_recipes
from video_knet_jax.datasets.youtube_vis import facts as ytvis_facts

NUM_CLASSES = len(ytvis_facts.CLASS_NAMES_2019)


def get_model_config() -> ml_collections.ConfigDict:
  """The full-size R50 KNetTrack architecture (extensions 3.1)."""
  m = ml_collections.ConfigDict()
  m.num_thing_classes = NUM_CLASSES
  m.num_stuff_classes = 0
  m.num_proposals = 100
  m.num_stages = 3                         # per-frame stages (roi_head).
  m.feat_channels = 256

  m.backbone = common.resnet50_backbone()
  m.fpn = common.fpn()
  m.semantic_fpn = common.semantic_fpn()

  m.kernel_head = ml_collections.ConfigDict()
  m.kernel_head.feat_downsample_stride = 2  # rpn masks x2 (stride 4) for losses.

  m.update_head = common.kernel_update_head(mask_upsample_stride=2)  # stride 8 -> 4.

  m.tracker = ml_collections.ConfigDict()
  m.tracker.num_stages = 3                  # 2 clip-level + 1 per-frame.
  m.tracker.assign_stages = 2               # stage 2 reuses stage 1's match.
  m.dtype = "float32"
  return m


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  """The YouTube-VIS R50 recipe; `arg='debug'` shrinks it for a laptop."""
  config = ml_collections.ConfigDict()
  config.task = "instance"                 # video_knet_jax/tasks/instance.py (KNetTrack).
  config.seed = 0

  config.data = ml_collections.ConfigDict()
  config.data.name = "youtube_vis"
  config.data.data_dir = ""
  config.data.manual_dir = ""
  config.data.train_split = "train"        # local sub-splits of labelled train.
  config.data.eval_split = "val"
  config.data.val_every = 10               # every 10th video is local val.
  config.data.num_classes = NUM_CLASSES
  config.data.clip_length = 5              # frames f-2..f+2 (extensions 3.6).
  config.data.short_sides = (288, 320, 352, 392, 416, 448, 480, 512)
  config.data.flip_prob = 0.5
  config.data.max_instances = 16           # GT instances per clip (padded).
  config.data.size_divisor = 32
  common.imagenet_normalisation(config.data)
  config.data.canvas = (512, 928)          # static training canvas (H, W).
  # Test img_scale (640, 360), as mmcv reads it: long edge <= 640 and short
  # edge <= 360 in either orientation; each video padded to a multiple of 32.
  config.data.test_size = (360, 640)
  config.data.synthetic = ml_collections.ConfigDict()
  config.data.device_prefetch = 1          # batches transferred ahead of the step.

  config.model = get_model_config()

  config.loss = ml_collections.ConfigDict()
  config.loss.rpn_mask = 1.0
  config.loss.rpn_dice = 4.0
  config.loss.rpn_seg = 1.0
  config.loss.cls = 2.0
  config.loss.mask = 1.0
  config.loss.dice = 4.0
  config.loss.focal_alpha = 0.25
  config.loss.focal_gamma = 2.0
  config.loss.rank = 0.0                   # no rank loss in the VIS recipe.
  config.loss.stage_weights = (1.0, 1.0, 1.0)
  config.loss.tracker_stage_weights = (1.0, 1.0, 1.0)
  config.loss.mask_assign_stride = 4       # targets at stride 4.
  config.loss.match_cls = 2.0
  config.loss.match_dice = 4.0
  config.loss.match_mask = 1.0

  config.inference = ml_collections.ConfigDict()
  config.inference.max_per_video = 10      # test_cfg.tracker.max_per_img.
  config.inference.mask_thr = 0.5
  config.inference.frame_bucket = 16       # clip lengths padded to a multiple.
  # >0: memory bounded by this many frames (inference/vis_bounded.py): the
  # video is swept once per tracker stage in chunks (the backbone reruns per
  # sweep, ~3x compute) and masks are encoded chunk by chunk; 0: the whole
  # video as one chunk (backbone once per frame, memory linear in T).
  config.inference.frame_chunk = 0

  config.optim = common.knet_adamw(decay_epochs=(8, 11))

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 16             # 2 clips/GPU x 8 GPUs.
  config.train.num_epochs = 12
  config.train.num_steps = -1              # -1: epochs x train frames / batch.
  config.train.num_train_frames = -1       # -1: counted from the built split.
  config.train.dataset_repeats = 1
  config.train.log_every_steps = 50
  config.train.checkpoint_every_steps = 1000
  config.train.keep_checkpoints = 3
  config.train.eval_every_steps = 0        # evaluate.py scores the checkpoint.
  # Non-finite loss or gradients: 0 stops at once naming the step; N > 0 skips
  # such a step's update up to N times in a run.
  config.train.max_skipped_steps = 0

  config.mesh = (("data", -1),)
  config.init_from = common.init_from()    # a COCO-instance K-Net (3.5).

  parts = common.parse_args(arg, file="configs/youtube_vis.py",
                            choices=("swin_b", "deformable", "debug"))
  if "swin_b" in parts:
    apply_swin_b(config)
  if "deformable" in parts:
    apply_deformable(config, swin="swin_b" in parts)
  if "debug" in parts:
    apply_debug(config)
    if "swin_b" in parts:
      swin_recipes.apply_swin_debug(config)
    if "deformable" in parts:
      deformable_recipes.apply_deformable_debug(config)
  return config


def apply_swin_b(config: ml_collections.ConfigDict) -> None:
  """The original's knet_track_swinb_1x_youtubevis_8e recipe (extensions 1.1, 3.5).

  Swin-B backbone (plain FPN, no deformable neck), schedule_8e: 8 epochs
  with one step at epoch 7, 1 clip per GPU x 8 GPUs. Data, heads, losses and
  optimiser otherwise equal the R50 recipe's.
  """
  swin_recipes.apply_swin_backbone(config, "swin_b")
  config.train.batch_size = 8              # 1 clip/GPU x 8 GPUs.
  config.train.num_epochs = 8
  config.optim.decay_epochs = (7,)


def apply_deformable(config: ml_collections.ConfigDict, swin: bool) -> None:
  """The original's deformable-neck recipes (extensions 3.5; configs/deformable_recipes.py).

  knet_track_r50_deformable_fpn_1x_youtubevis: the R50 recipe with the
  MSDeformAttnPixelDecoder neck and 1 clip per GPU x 8 GPUs.
  knet_track_swinb_deformable_1x_youtubevis: Swin-B with that neck, schedule_1x
  (12 epochs, steps at 8 and 11; not the plain Swin-B recipe's 8), 1 clip per
  GPU, and `with_cp=True` (backbone blocks rematerialised).
  """
  deformable_recipes.apply_deformable_neck(config)
  config.train.batch_size = 8              # 1 clip/GPU x 8 GPUs.
  config.train.num_epochs = 12
  config.optim.decay_epochs = (8, 11)
  if swin:
    config.model.backbone.remat = True     # with_cp=True.


def apply_debug(config: ml_collections.ConfigDict) -> None:
  """A tiny model on a generated YouTube-VIS-format set."""
  common.tiny_knet_model(config.model)
  config.data.synthetic = ml_collections.ConfigDict(dict(
      seed=0, num_videos=6, frames_per_video=6, height=64, width=96,
      instances_per_video=3, num_classes_used=4))
  config.data.val_every = 3
  config.data.clip_length = 3
  config.data.short_sides = (64,)
  config.data.max_instances = 4
  config.data.test_size = (64, 96)
  config.data.canvas = (64, 96)
  config.inference.frame_bucket = 4
  config.train.num_steps = 300
  config.optim.lr = 1e-3                   # tiny model, few steps: no decay.
  config.optim.decay_epochs = ()
  config.loss.stage_weights = (1.0, 1.0)
  config.train.batch_size = 2
  config.train.log_every_steps = 1
  config.train.checkpoint_every_steps = 5
  config.optim.warmup_steps = 5
