r"""COCO 2017 image K-Nets: the pretraining every YouTube-VIS and VIPSeg recipe starts from.

The original's `configs/det/coco/` recipes (image `KNet`, 100 proposals, 3
stages, masks supervised at stride 4; video_knet_extensions.md 3.5):

  ''                  knet_s3_r50_fpn_ms-3x_coco              R50 + FPN, instances (80 things)
  'deformable'        knet_s3_r50_deformable_fpn_ms-3x_coco   R50 + MSDeformAttnPixelDecoder
  'swin_b,deformable' knet_s3_swin-b_deformable_fpn_ms-3x_coco  Swin-B (22k ImageNet) + decoder
  'panoptic'          knet_s3_r50_fpn_ms-3x_coco-panoptic     R50 + FPN, 80 things + 53 stuff

each optionally with 'debug' (a tiny model on a generated COCO-format set,
datasets/coco/generate.py). Data, schedule and optimiser are the ms-3x recipe
(`configs/det/common/mstrain_3x_coco_instance.py`): keep-ratio resize into
1333 x [640, 800] (short side drawn per image), flip 0.5, pad /32, AdamW 1e-4
(wd 0.05, backbone x0.25), clip 1, warmup 1000 iterations (ratio 1e-3),
12 epochs over RepeatDataset x3 with steps at 9 and 11, 2 images per GPU x 8
GPUs; test at 1333 x 800.

The panoptic recipe's data/schedule base (`common/mstrain_3x_coco_panoptic.py`)
is missing upstream; its model base (`_base_/models/knet_s3_r50_fpn_panoptic.py`)
exists: `ConvKernelHead(num_classes=133, cat_stuff_mask=True)` and 3
`KernelUpdateHead(num_classes=133)` over the defaults num_thing_classes=80 /
num_stuff_classes=53, rank loss 0.1 in the rpn and every stage, and the FPN.
Its state_dict is therefore the instance R50 K-Net's 502 tensors with the two
class layers (`rpn_head.conv_seg`, `roi_head.mask_head.{0,1,2}.fc_cls`) at 133
outputs: 37,536,852 parameters (`expected_panoptic_layout`, tested). Its data
numbers here follow the sibling `mstrain_3x_coco_panoptic_inst_anno.py`
(the same ms-3x resize, RepeatDataset x3, 12 epochs, steps 9 and 11).

Tasks: the instance recipes are the `image_instance` task
(video_knet_jax/tasks/image_instance.py: ms-3x augmentation of
data/coco_augment.py, mask AP through pycocotools); the panoptic recipe is the
`panoptic` task with the image K-Net (as configs/cityscapes_step.py), COCO
panoptic frames through the panoptic clip pipeline (its keep-ratio resize of
base_size (800, 1333) x scale_range (0.8, 1.0) stands in for the ms-3x short
side drawn from 640..800) and the project's PQ at the images' own size
(`apply_panoptic_pipeline`). Their checkpoints start YouTube-VIS (instance) and
VIPSeg (panoptic) through `config.init_from` (docs/RECIPES.md).
"""
import ml_collections

from video_knet_jax.configs import common
from video_knet_jax.configs import deformable_recipes
from video_knet_jax.configs import kitti_step
from video_knet_jax.configs import swin_recipes

NUM_THING_CLASSES = 80
NUM_STUFF_CLASSES = 53      # COCO panoptic stuff (panopticapi categories).
IGNORE_LABEL = 255
ARGUMENTS = ("", "deformable", "swin_b,deformable", "panoptic")


def get_model_config(panoptic: bool = False) -> ml_collections.ConfigDict:
  """The full-size R50 image K-Net of the COCO recipes (FPN neck)."""
  m = ml_collections.ConfigDict()
  m.num_thing_classes = NUM_THING_CLASSES
  m.num_stuff_classes = NUM_STUFF_CLASSES if panoptic else 0
  m.num_proposals = 100
  m.num_stages = 3
  m.feat_channels = 256

  m.backbone = ml_collections.ConfigDict()
  m.backbone.name = "resnet"
  m.backbone.stage_blocks = (3, 4, 6, 3)
  m.backbone.base_width = 64
  m.backbone.frozen_stages = 1
  m.backbone.norm_eval = True              # (Sync)BN statistics frozen.

  m.fpn = ml_collections.ConfigDict()
  m.fpn.num_outs = 4                       # P2..P5.

  m.semantic_fpn = ml_collections.ConfigDict()
  m.semantic_fpn.num_groups = 32
  m.semantic_fpn.pe_num_feats = 128
  m.semantic_fpn.pe_temperature = 10000.0
  m.semantic_fpn.upsample_times = 2        # stride 8.

  m.kernel_head = ml_collections.ConfigDict()
  m.kernel_head.feat_downsample_stride = 2  # rpn masks x2 (stride 4) for losses.

  m.update_head = ml_collections.ConfigDict()
  m.update_head.num_heads = 8
  m.update_head.ffn_channels = 2048
  m.update_head.num_cls_fcs = 1
  m.update_head.num_mask_fcs = 1
  m.update_head.mask_upsample_stride = 2    # stride 8 -> stride 4.
  m.update_head.mask_thr = 0.5

  m.temporal = ml_collections.ConfigDict()
  m.temporal.enabled = False                # the original's image `KNet`.
  m.temporal.link = False
  m.temporal.link_type = "ffn"
  m.temporal.fusion = False
  m.temporal.link_all_stages = False
  m.temporal.embed_channels = 256
  m.temporal.track_num_fcs = 2
  m.dtype = "float32"
  return m


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  """A COCO K-Net recipe (see the module docstring); add ',debug' for a tiny one."""
  parts = [p for p in arg.split(",") if p] if arg else []
  debug = "debug" in parts
  recipe = ",".join(p for p in parts if p != "debug")
  if recipe not in ARGUMENTS or parts.count("debug") > 1:
    raise ValueError(f"Unknown config argument {arg!r}; expected one of "
                     f"{[a or '(empty)' for a in ARGUMENTS]}, optionally with ',debug'.")
  panoptic = recipe == "panoptic"

  config = ml_collections.ConfigDict()
  config.seed = 0
  # video_knet_jax/tasks/: image_instance.py, or panoptic.py's image K-Net.
  config.task = "panoptic" if panoptic else "image_instance"

  config.data = ml_collections.ConfigDict()
  config.data.name = "coco_panoptic" if panoptic else "coco"   # datasets/coco/.
  config.data.data_dir = ""
  config.data.manual_dir = ""              # the official tree (docs/DATA.md).
  config.data.generated = ml_collections.ConfigDict()   # {}: real data.
  config.data.train_split = "train"
  config.data.eval_split = "val"
  config.data.num_classes = NUM_THING_CLASSES + (NUM_STUFF_CLASSES if panoptic else 0)
  config.data.ignore_label = IGNORE_LABEL
  # Resize(img_scale=[(1333, 640), (1333, 800)], multiscale_mode='range',
  # keep_ratio=True): long side <= 1333, short side <= U{640..800}.
  config.data.scale_mode = "range"         # data/coco_augment.py.
  config.data.long_side = 1333
  config.data.short_side_range = (640, 800)
  config.data.flip_prob = 0.5
  config.data.size_divisor = 32
  config.data.canvas = (1344, 1344)        # static training canvas (either orientation).
  config.data.max_instances = 100          # GT things per image (padded; COCO max 93).
  config.data.filter_empty_gt = True       # mmdet CocoDataset drops images without things.
  config.data.mean = (123.675, 116.28, 103.53)
  config.data.std = (58.395, 57.12, 57.375)
  config.data.test_scale = (800, 1333)     # (short, long) keep-ratio box at test.

  config.model = get_model_config(panoptic)

  config.loss = ml_collections.ConfigDict()
  config.loss.rpn_mask = 1.0
  config.loss.rpn_dice = 4.0
  config.loss.rpn_seg = 1.0
  config.loss.rpn_rank = 0.1 if panoptic else 0.0
  config.loss.cls = 2.0
  config.loss.mask = 1.0
  config.loss.dice = 4.0
  config.loss.rank = 0.1 if panoptic else 0.0
  config.loss.focal_alpha = 0.25
  config.loss.focal_gamma = 2.0
  config.loss.stage_weights = (1.0, 1.0, 1.0)
  config.loss.mask_assign_stride = 4       # targets at stride 4.
  config.loss.match_cls = 2.0
  config.loss.match_dice = 4.0
  config.loss.match_mask = 1.0

  config.inference = ml_collections.ConfigDict()
  config.inference.max_per_img = 100       # test_cfg.rcnn.max_per_img.
  config.inference.mask_thr = 0.5
  if panoptic:                             # test_cfg.rcnn of the panoptic recipe.
    config.inference.stuff_score_thr = 0.05
    config.inference.overlap_thr = 0.6
    config.inference.iou_thr = 0.5
    config.inference.stuff_max_area = 4096
    config.inference.instance_score_thr = 0.3

  config.optim = ml_collections.ConfigDict()
  config.optim.lr = 1e-4
  config.optim.weight_decay = 0.05
  config.optim.backbone_lr_mult = 0.25
  config.optim.clip_norm = 1.0
  config.optim.warmup_steps = 1000
  config.optim.warmup_ratio = 0.001
  config.optim.decay_epochs = (9, 11)
  config.optim.decay_steps = ()
  config.optim.decay_gamma = 0.1
  config.optim.policy = "step"
  config.optim.min_lr_ratio = 0.0

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 16             # 2 images/GPU x 8 GPUs.
  config.train.num_epochs = 12
  config.train.dataset_repeats = 3         # RepeatDataset(times=3): "3x".
  config.train.num_train_frames = -1       # -1: counted from the built split.
  config.train.num_steps = -1
  config.train.log_every_steps = 50
  config.train.checkpoint_every_steps = 1000
  config.train.keep_checkpoints = 3
  config.train.eval_every_steps = 0        # evaluate.py scores the checkpoint.
  config.train.max_skipped_steps = 0       # a non-finite step stops the run.
  config.data.device_prefetch = 1

  config.mesh = (("data", -1),)
  # ImageNet weights: torchvision ResNet-50, or for Swin-B the official
  # swin_base_patch4_window7_224_22k.pth (convert/sources.py SWIN_IMAGENET).
  config.init_from = common.init_from()

  if panoptic:
    apply_panoptic_pipeline(config)
  if recipe in ("deformable", "swin_b,deformable"):
    deformable_recipes.apply_deformable_neck(config)
  if recipe == "swin_b,deformable":
    swin_recipes.apply_swin_backbone(config, "swin_b")   # drop_path 0.3, with_cp False.
  if debug:
    apply_debug(config)
    if recipe == "swin_b,deformable":
      swin_recipes.apply_swin_debug(config)
    if "deformable" in recipe:
      deformable_recipes.apply_deformable_debug(config)
  return config


def apply_debug(config: ml_collections.ConfigDict) -> None:
  """A tiny model on a generated COCO-format set (datasets/coco/generate.py)."""
  common.tiny_knet_model(config.model)
  config.data.generated = ml_collections.ConfigDict(dict(
      seed=0, num_train=4, num_val=2, height=64, width=96))
  config.data.long_side = 96
  config.data.short_side_range = (48, 64)
  config.data.canvas = (96, 96)
  config.data.max_instances = 4
  config.data.test_scale = (64, 96)
  config.loss.stage_weights = (1.0, 1.0)
  config.train.num_steps = 300
  config.train.batch_size = 2
  config.train.log_every_steps = 1
  config.train.checkpoint_every_steps = 5
  config.optim.lr = 1e-3
  config.optim.decay_epochs = ()
  config.optim.warmup_steps = 5
  if config.task == "panoptic":
    d = config.data
    d.base_size = d.crop_size = (64, 96)
    d.scale_range = (0.75, 1.0)
    d.eval_size = (64, 96)
    d.max_instances = 4
    d.shuffle_buffer = 16


def apply_panoptic_pipeline(config: ml_collections.ConfigDict) -> None:
  """The panoptic task's fields (the clip pipeline, panoptic merge, mask-IoU
  association) for the COCO panoptic image K-Net.

  Fields the panoptic recipes share come from kitti_step.recipe_for (what is
  already set here is kept); then single images (no reference frame), the
  keep-ratio resize of (800, 1333) x [0.8, 1.0] with a crop no image exceeds,
  the label space of the COCO panoptic facts and its evaluation at each
  image's own size (padded to 32, one compile per padded size).
  """
  from video_knet_jax.datasets.coco import facts as coco_facts  # pylint: disable=g-import-not-at-top
  base = kitti_step.recipe_for("coco_panoptic", coco_facts.COCO_PANOPTIC)
  for section in ("data", "model", "loss", "inference", "tracker"):
    if section not in config:
      config[section] = ml_collections.ConfigDict()
    _fill_missing(config[section], base[section])
  d = config.data
  d.thing_train_ids = tuple(coco_facts.COCO_PANOPTIC.thing_ids)
  d.num_refs = 0
  d.require_shared_thing = False
  d.base_size = (800, 1333)
  d.scale_range = (0.8, 1.0)               # short side 640..800.
  d.crop_size = (1344, 1344)               # no crop: every resized image fits.
  d.eval_size = (1344, 1344)
  config.loss.rpn_seg_type = "focal"       # sigmoid focal semantic loss.
  config.inference.fixed_canvas = False


def _fill_missing(target: ml_collections.ConfigDict,
                  source: ml_collections.ConfigDict) -> None:
  for key, value in source.items():
    if key not in target:
      target[key] = value
    elif isinstance(value, ml_collections.ConfigDict) and isinstance(
        target[key], ml_collections.ConfigDict):
      _fill_missing(target[key], value)


def expected_panoptic_layout(instance_layout):
  """The panoptic COCO K-Net's state_dict layout from the instance one's.

  `instance_layout`: (key, shape, dtype) of knet_s3_r50_fpn_ms-3x_coco
  (reference_keys.KNET_COCO_R50). The panoptic model files differ only in
  num_classes=133 of `rpn_head.conv_seg` and the stages' `fc_cls`
  (see the module docstring).
  """
  classes = NUM_THING_CLASSES + NUM_STUFF_CLASSES
  out = []
  for key, shape, dtype in instance_layout:
    if key.startswith("rpn_head.conv_seg.") or ".fc_cls." in key:
      shape = (classes,) + tuple(shape[1:])
    out.append((key, tuple(shape), dtype))
  return out
