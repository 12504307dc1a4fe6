r"""Video K-Net, ResNet-50, VIPSeg (124 classes: 58 things, 66 stuff) at 720p.

Numbers follow the original's
`configs/det/video_knet_vipseg/video_knet_s3_r50_rpn_vipseg_mask_embed_link_ffn_joint_train.py`
(../shared/reference/video_knet_original.md section 7.3 and
video_knet_extensions.md section 5.1); everything else is the KITTI-STEP R50
recipe (`configs/kitti_step.py`). The original starts from a COCO-panoptic
K-Net (`--config.init_from.checkpoint`, docs/CONVERSION.md).

  python train.py --config=configs/vipseg.py --workdir=DIR \
      --config.data.manual_dir=/data/VIPSeg_720P
  python evaluate.py --config=configs/vipseg.py --workdir=DIR
  # tiny, on a generated VIPSeg-format set (no download):
  python train.py --config=configs/vipseg.py:debug --workdir=/tmp/vipseg_dbg

`:swin_b` is the original's
`video_knet_s3_swin_b_rpn_vipseg_mask_embed_link_ffn_joint_train_8e.py`: the
R50 recipe with the Swin-B backbone (configs/swin_recipes.py; the ffn link, no
kernel fusion, as R50) and 8 epochs with one step at 7. `:swin_b,debug` is a
tiny Swin on the generated set.
"""
from video_knet_jax.configs import kitti_step
from video_knet_jax.configs import swin_recipes
from video_knet_jax.datasets.vipseg import facts as vipseg_facts

VIPSEG = vipseg_facts.VIPSEG


def get_config(arg: str = ""):
  """Returns the VIPSeg R50 recipe (`arg='swin_b'`: Swin-B); `debug` trains a
  tiny model on a generated set in the VIPSeg layout."""
  # manual_dir: VIPSeg_720P/ after the data set's scripts. 58 things, then
  # 66 stuff -> 100 + 66 kernels.
  size, debug = swin_recipes.parse_arg(arg, sizes=("swin_b",), file="configs/vipseg.py")
  config = kitti_step.recipe_for("vipseg", VIPSEG)
  d = config.data
  # Resize img_scale=(720, 100000), ratio [1.0, 2.0]: short side 720 * r
  # (upscale only), crop 736x736 shared by the clip, flip, pad /32.
  d.base_size = (720, 100000)
  d.scale_range = (1.0, 2.0)
  d.crop_size = (736, 736)
  d.ref_offsets = (-2, -1, 1, 2)
  d.max_instances = 64                    # VIPSeg frames hold more things than KITTI's.
  # Test at the 720p frames; 16:9 frames are 1280 wide (wider frames need a
  # larger canvas: the eval pipeline names the file).
  d.eval_size = (720, 1280)
  d.submission_format = "vipseg"          # pan_pred/<video>/*.png + pred.json.
  # VPQ as the data set's eval_vpq_vspw.py: windows of 1, 2, 4, 6, 8 frames,
  # VPSNet (panopticapi) matching; score_folders.py --dataset=vipseg agrees.
  d.vpq_windows = (1, 2, 4, 6, 8)
  d.vpq_protocol = "panopticapi"
  # The original pads before normalising (pad value 0 -> -mean/std); this
  # pipeline pads after (0) as for KITTI-STEP: a known difference.

  # 12 epochs, steps at 9 and 11, RepeatDataset x1. The batch is the
  # original's 8 GPUs x 1 clip (samples_per_gpu is not restated by the VIPSeg
  # config; the KITTI-STEP value is kept).
  config.train.num_epochs = 12
  config.train.dataset_repeats = 1
  # Steps per epoch come from the train frame count, which the facts do not
  # fix for VIPSeg: pass the count `python -m datasets.build` prints for the
  # built train split (0 is refused by optim.steps_per_epoch).
  config.train.num_train_frames = 0
  config.optim.decay_epochs = (9, 11)
  if size:
    apply_swin_b(config)

  if debug:
    kitti_step.apply_generated_debug(config)
    # 8 frames: the longest VPQ window (vpq_windows) needs a video that long.
    d.generated = dict(seed=0, num_train=2, num_val=1, frames_per_video=8,
                       height=64, width=96)
    d.base_size = (64, 100000)
    d.scale_range = (1.0, 1.25)
    d.crop_size = (64, 96)
    d.eval_size = (64, 96)
    d.max_instances = 16
    config.train.num_train_frames = 8
    if size:
      swin_recipes.apply_swin_debug(config)
  return config


def apply_swin_b(config) -> None:
  """The original's VIPSeg Swin-B recipe (`..._joint_train_8e.py`): Swin-B in
  place of R50 (heads, link and data unchanged), 8 epochs with a step at 7."""
  swin_recipes.apply_swin_backbone(config, "swin_b")
  config.train.num_epochs = 8
  config.optim.decay_epochs = (7,)
