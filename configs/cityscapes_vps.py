r"""Video K-Net, ResNet-50, Cityscapes-VPS (19 classes: 8 things, 11 stuff).

The original releases only a data config for Cityscapes-VPS
(`configs/det/_base_/datasets/cityscapes_vps_clips.py`; no model config or
checkpoint, ../shared/reference/video_knet_original.md section 7.2 and
video_knet_extensions.md 5.2); its numbers are below, the model and schedule
are the KITTI-STEP R50 recipe's (`configs/kitti_step.py`) with 8 thing
classes. Training sees the labelled frames only (every 5th); evaluation runs
online through all 30 frames of each val video and scores the 6 labelled ones
(VPQ over windows of 1..4 labelled frames = the paper's k = 0, 5, 10, 15).

  python train.py --config=configs/cityscapes_vps.py --workdir=DIR \
      --config.data.manual_dir=/data/cityscapes_vps
  python evaluate.py --config=configs/cityscapes_vps.py --workdir=DIR
  # tiny, on a generated Cityscapes-VPS-format set (no download):
  python train.py --config=configs/cityscapes_vps.py:debug --workdir=/tmp/cvps_dbg

`:swin_b` is the paper's Swin-B row. The original has no config for it
either: this is the KITTI-STEP Swin-B model and schedule
(`configs/kitti_step.py:swin_b`, its `..._joint_update` recipe: Swin-B,
kernel fusion, "update" link, 16 clips per step) with Cityscapes-VPS's
classes and data settings above. `:swin_b,debug` is a tiny Swin on the
generated set.
"""
from video_knet_jax.configs import kitti_step
from video_knet_jax.configs import swin_recipes
from video_knet_jax.datasets.cityscapes_vps import facts as vps_facts

FACTS = vps_facts.CITYSCAPES_VPS


def get_config(arg: str = ""):
  """Returns the Cityscapes-VPS R50 recipe (`arg='swin_b'`: Swin-B); `debug`
  trains a tiny model on a generated set in the Cityscapes-VPS layout."""
  # manual_dir: data/cityscapes_vps/ (docs/DATA.md). 8 things (trainIds
  # 11..18 -> model 0..7), 11 stuff.
  size, debug = swin_recipes.parse_arg(arg, sizes=("swin_b",), file="configs/cityscapes_vps.py")
  config = kitti_step.recipe_for("cityscapes_vps", FACTS)
  if size:
    kitti_step.apply_swin_recipe(config, size)
  d = config.data
  # Range resize long in [1024, 4096], short in [512, 2048] = (1024, 2048)
  # x [0.5, 2.0]; crop 1024x1024 shared by the clip; flip 0.5; pad /32.
  d.base_size = (1024, 2048)
  d.scale_range = (0.5, 2.0)
  d.crop_size = (1024, 1024)
  # Reference = the neighbouring labelled frame (image-id offset -1 / +1 in
  # the original; labelled frames are 5 frames apart).
  d.ref_offsets = (-vps_facts.LABEL_EVERY, vps_facts.LABEL_EVERY)
  d.max_instances = 64
  d.eval_size = (1024, 2048)              # test at the native (2048, 1024).
  # Scored frames are LABEL_EVERY apart: VPQ windows of n labelled frames
  # span (n - 1) * 5 frames (metrics VPQ_span0 .. VPQ_span15).
  d.labelled_frame_gap = vps_facts.LABEL_EVERY
  d.submission_format = "cityscapes_vps"  # pan_pred/*.png + pred.json.

  # Batch 2 clips per GPU on 8 GPUs, RepeatDataset x8, 2,400 labelled train
  # frames. Epochs and decay steps are not released for Cityscapes-VPS: the
  # KITTI-STEP schedule (12 epochs, steps at 9 and 11) is kept.
  config.train.batch_size = 16
  config.train.dataset_repeats = 8
  config.train.num_train_frames = FACTS.split_frames["train"]

  if debug:
    kitti_step.apply_generated_debug(config)
    d.generated = dict(seed=0, num_train=2, num_val=1, num_test=1,
                       height=64, width=128)
    d.base_size = (64, 128)
    d.scale_range = (0.75, 1.25)
    d.crop_size = (64, 96)
    d.eval_size = (64, 128)
    d.max_instances = 16
    config.train.num_train_frames = 12
    if size:
      swin_recipes.apply_swin_debug(config)
  return config
