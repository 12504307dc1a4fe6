r"""Image K-Net, ResNet-50, Cityscapes-STEP: the pretraining of the KITTI-STEP recipe.

The original's `configs/det/knet_cityscapes_step/knet_s3_r50_fpn.py`
(../shared/reference/video_knet_original.md section 7.1): the image `KNet`
(no linking, no embedding head) on Cityscapes fine images with KITTI-STEP's
label space (things = person, car). Its checkpoint starts the Video K-Net:

  python train.py --config=configs/cityscapes_step.py --workdir=PRE \
      --config.data.manual_dir=/data/cityscapes
  python evaluate.py --config=configs/cityscapes_step.py --workdir=PRE   # image PQ
  python train.py --config=configs/kitti_step.py --workdir=DIR \
      --config.init_from.checkpoint=PRE     # video-only layers stay at init
  # tiny, on a generated Cityscapes-format set (no download):
  python train.py --config=configs/cityscapes_step.py:debug --workdir=/tmp/cs_dbg

Arguments are comma-separated: `swin_b` (or `swin_l`) puts the original's
`knet_s3_swin_{b,l}_fpn.py` Swin backbone on the image K-Net (configs/swin_recipes.py),
`debug` shrinks it, e.g. `:swin_b,debug`.
"""
from video_knet_jax.configs import kitti_step
from video_knet_jax.configs import swin_recipes
from video_knet_jax.datasets.cityscapes_step import facts as cs_facts

FACTS = cs_facts.CITYSCAPES_STEP


def get_config(arg: str = ""):
  """Returns the Cityscapes-STEP image K-Net recipe (`swin_b`/`swin_l`: Swin
  backbone); `debug` trains a tiny one on a generated Cityscapes-format set."""
  # manual_dir: the Cityscapes root (docs/DATA.md). 19 classes, things
  # person and car.
  config = kitti_step.recipe_for("cityscapes_step", FACTS)
  d = config.data
  # Single images: no reference frame, every image may be drawn.
  d.num_refs = 0
  d.require_shared_thing = False
  # Resize (1024, 2048) x [0.5, 2.0], flip 0.5, RandomCrop (1024, 2048), pad 32.
  d.base_size = (1024, 2048)
  d.scale_range = (0.5, 2.0)
  d.crop_size = (1024, 2048)
  d.eval_size = (1024, 2048)
  d.max_instances = 64

  m = config.model
  m.temporal.enabled = False              # the image KNet: no linking / embedding.
  m.kernel_head.feat_downsample_stride = 2  # rpn masks x2 ...
  m.update_head.mask_upsample_stride = 2    # ... stage masks x2: losses at stride 4.
  # The original uses SyncBN in the heads and K-Net's BN settings otherwise;
  # here the backbone statistics stay frozen as in the video recipe.

  loss = config.loss
  loss.mask_assign_stride = 4             # targets at stride 4.
  loss.rpn_seg_type = "focal"             # sigmoid focal semantic loss (1.0).
  loss.rank = 0.1                         # rank loss in every stage (and rpn).
  loss.rpn_rank = 0.1
  config.inference.instance_score_thr = 0.3

  # 8 epochs x RepeatDataset 8, step at 7; 2 images per GPU on 8 GPUs.
  config.train.batch_size = 16
  config.train.num_epochs = 8
  config.train.dataset_repeats = 8
  config.train.num_train_frames = FACTS.split_frames["train"]   # 2,975.
  config.optim.decay_epochs = (7,)

  size, debug = swin_recipes.parse_arg(arg)
  if size:
    # knet_s3_swin_{b,l}_fpn.py: samples_per_gpu=1 on 8 GPUs (R50: 2).
    swin_recipes.apply_image_knet_swin(config, size)
    config.train.batch_size = 8
  if debug:
    kitti_step.apply_generated_debug(config)
    if size:
      swin_recipes.apply_swin_debug(config)
    d.generated = dict(seed=2, num_train=4, num_val=2, num_test=1,
                       height=64, width=128)
    d.base_size = (64, 128)
    d.scale_range = (0.75, 1.25)
    d.crop_size = (64, 128)
    d.eval_size = (64, 128)
    d.max_instances = 16
    config.train.num_train_frames = 4
  return config
