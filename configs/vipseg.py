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
"""
from video_knet_jax.configs import kitti_step
from video_knet_jax.datasets.vipseg import facts as vipseg_facts

VIPSEG = vipseg_facts.VIPSEG


def get_config(arg: str = ""):
  """Returns the VIPSeg R50 recipe; `arg='debug'` trains a tiny model on a
  generated set in the VIPSeg layout."""
  # manual_dir: VIPSeg_720P/ after the data set's scripts. 58 things, then
  # 66 stuff -> 100 + 66 kernels.
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

  if arg == "debug":
    kitti_step.apply_generated_debug(config)
    d.generated = dict(seed=0, num_train=2, num_val=1, frames_per_video=4,
                       height=64, width=96)
    d.base_size = (64, 100000)
    d.scale_range = (1.0, 1.25)
    d.crop_size = (64, 96)
    d.eval_size = (64, 96)
    d.max_instances = 16
    config.train.num_train_frames = 8
  elif arg:
    raise ValueError(f"Unknown config argument {arg!r}; expected '' or 'debug'.")
  return config
