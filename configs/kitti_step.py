r"""Video K-Net, ResNet-50, KITTI-STEP: the paper's recipe.

Numbers follow the original R50 KITTI-STEP config (see docs and
../shared/reference/video_knet_original.md sections 1.3-1.8).

  python train.py --config=configs/kitti_step.py --workdir=DIR
  python train.py --config=configs/kitti_step.py:debug --workdir=DIR   # tiny
  python train.py --config=configs/kitti_step.py:swin_b --workdir=DIR  # Swin-B (swin_l: Swin-L)
  python train.py --config=configs/kitti_step.py:swin_b,debug --workdir=DIR   # tiny Swin

Arguments are comma-separated: an optional backbone (`swin_b`, `swin_l`; the
original's `..._joint_update` Swin recipes, see configs/swin_recipes.py; or
`swin_l_short_track_fc`, its Swin-L `..._update_conv_short_track_fc` recipe),
optionally `trainval` (train on train + val for the test server, then
`evaluate.py --split=test`) and optionally `debug`.
"""
import ml_collections

from video_knet_jax.configs import common
from video_knet_jax.configs import swin_recipes
from video_knet_jax.datasets.kitti_step import facts as facts_lib

# KITTI-STEP label space: Cityscapes trainIds, things = person (11), car (13).
NUM_CLASSES = 19
THING_TRAIN_IDS = (11, 13)
IGNORE_LABEL = 255


def get_model_config() -> ml_collections.ConfigDict:
  """The full-size R50 Video K-Net architecture (section 1.3)."""
  m = ml_collections.ConfigDict()
  m.num_thing_classes = len(THING_TRAIN_IDS)
  m.num_stuff_classes = NUM_CLASSES - len(THING_TRAIN_IDS)
  m.num_proposals = 100          # thing kernels; stuff kernels are added on top.
  m.num_stages = 3               # iterative kernel update stages.
  m.feat_channels = 256          # FPN / kernel width everywhere.

  m.backbone = common.resnet50_backbone()
  m.fpn = common.fpn()
  m.semantic_fpn = common.semantic_fpn()

  m.kernel_head = ml_collections.ConfigDict()
  m.kernel_head.feat_downsample_stride = 4  # rpn masks x4 for the losses.

  m.update_head = common.kernel_update_head(mask_upsample_stride=4)  # stride 8 -> 2.

  # Temporal parts (section 3.5-3.7).
  m.temporal = ml_collections.ConfigDict()
  m.temporal.enabled = True                 # False: the original's image K-Net (no temporal layers).
  m.temporal.link = True                    # kernel linking before the embedding head.
  m.temporal.link_type = "ffn"              # 'ffn' (R50 configs) or 'update' (Swin configs).
  m.temporal.fusion = False                 # kernel fusion (the Swin configs' path).
  m.temporal.link_all_stages = False        # True: original layout (dead stage-0/1 layers).
  m.temporal.embed_channels = 256
  m.temporal.track_num_fcs = 2
  # Ablation switches (docs/RECIPES.md, "KITTI-STEP ablations"); defaults = the release.
  m.temporal.embedding = "kernels"          # or 'roi_align', 'mask_emb', 'kernels+mask_emb'.
  m.temporal.link_stage = -1                # stage (1..num_stages) linking/fusing; -1 = last.
  m.temporal.fusion_update = True           # False: fusion without update ('link_atten').
  m.temporal.roi_embed = ml_collections.ConfigDict(dict(   # embedding='roi_align' only.
      num_convs=4, num_groups=32, num_fcs=1, fc_channels=1024, output_size=7,
      sampling_ratio=2))
  m.dtype = "float32"                       # compute dtype: 'float32', 'bfloat16' or 'auto'
                                            # (bf16 on GPU/TPU, fp32 on CPU); params stay fp32.
  return m


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  """Returns the KITTI-STEP R50 recipe; `arg='debug'` shrinks it for a laptop."""
  config = ml_collections.ConfigDict()
  config.task = "panoptic"                # video_knet_jax/tasks: the image K-Net too.
  config.seed = 0

  # --------------------------------------------------------------- data
  config.data = ml_collections.ConfigDict()
  config.data.name = "kitti_step"
  config.data.data_dir = ""               # TFDS data_dir ('' = TFDS default).
  config.data.manual_dir = ""             # where the KITTI-STEP tree was unpacked.
  config.data.train_split = "train"
  config.data.eval_split = "val"
  config.data.num_classes = NUM_CLASSES
  config.data.thing_train_ids = THING_TRAIN_IDS
  config.data.ignore_label = IGNORE_LABEL
  config.data.base_size = (384, 1248)     # (H, W) before the random scale.
  config.data.scale_range = (0.5, 2.0)
  config.data.crop_size = (384, 1248)
  config.data.flip_prob = 0.5
  config.data.ref_offsets = (-2, -1, 1, 2)  # one reference drawn per key frame.
  config.data.num_refs = 1
  config.data.max_instances = 32          # thing masks per frame (padded).
  config.data.size_divisor = 32
  common.imagenet_normalisation(config.data)
  config.data.shuffle_buffer = 512
  config.data.eval_size = (384, 1248)     # padded canvas for inference.
  # Clip filtering as in the original (section 10.2 item 10): key frames need a
  # person/car whose id is also in the reference, and crops are re-drawn (up
  # to crop_attempts) until key and reference crops share one.
  config.data.require_shared_thing = True
  config.data.crop_attempts = 10
  config.data.crowd_as_instance = False   # True: original (item 12).
  # Ship SEMANTIC + INSTANCE int32 maps and build the padded masks inside the
  # jitted step (data/device_targets.py; same targets, 6.8x fewer label
  # bytes per step); batches transferred ahead of the step.
  config.data.targets_on_device = True
  config.data.device_prefetch = 1

  # -------------------------------------------------------------- model
  config.model = get_model_config()

  # --------------------------------------------------------------- loss
  config.loss = ml_collections.ConfigDict()
  config.loss.rpn_mask = 1.0
  config.loss.rpn_dice = 4.0
  config.loss.rpn_rank = 0.1
  config.loss.rpn_seg = 1.0
  config.loss.cls = 2.0
  config.loss.mask = 1.0
  config.loss.dice = 4.0
  config.loss.rank = 0.0                   # video recipe drops the stage rank loss.
  config.loss.focal_alpha = 0.25
  config.loss.focal_gamma = 2.0
  config.loss.stage_weights = (1.0, 1.0, 1.0)
  config.loss.mask_assign_stride = 2       # targets at stride 2.
  config.loss.match_cls = 2.0              # Hungarian costs.
  config.loss.match_dice = 4.0
  config.loss.match_mask = 1.0
  config.loss.track = 0.25                 # multi-positive CE.
  config.loss.track_aux = 1.0              # L2 on cosine similarity.
  config.loss.track_aux_pos_margin = 0.0
  config.loss.track_aux_neg_margin = 0.1
  config.loss.track_aux_neg_pos_ub = 3
  # Ablation switches (docs/RECIPES.md); defaults = the release.
  config.loss.key_frame_only = False       # True: no segmentation losses on the reference.
  config.loss.association_sampling = "gt"  # 'qdtrack': IoU-sampled pairs (QDTrack's sampler).
  config.loss.qdtrack = ml_collections.ConfigDict(dict(
      pos_iou_thr=0.7, neg_iou_thr=0.5, neg_pos_ub=3))

  # ---------------------------------------------------------- inference
  config.inference = ml_collections.ConfigDict()
  config.inference.overlap_thr = 0.6
  config.inference.instance_score_thr = 0.25
  config.inference.mask_thr = 0.5
  config.inference.max_per_img = 100
  # False: each video padded to the next multiple of data.size_divisor of its
  # own frame size, as the original tests; True: every frame padded to
  # data.eval_size (one static shape; predictions change with the padding).
  config.inference.fixed_canvas = False
  # Frames of a user's video (predict / the Python API) are first resized
  # (keep ratio) to fit this (H, W); () = as they are, as the original tests
  # KITTI-STEP (no Resize in its test pipeline).
  config.inference.test_scale = ()
  # Panoptic merge: 'joint' (the release), 'thing_first' or 'stuff_first' (the
  # original's merge_stuff_thing_* with its iou_thr and stuff_max_area).
  config.inference.merge = "joint"
  config.inference.merge_iou_thr = 0.5
  config.inference.stuff_max_area = 4096

  config.tracker = ml_collections.ConfigDict()
  config.tracker.init_score_thr = 0.35
  config.tracker.obj_score_thr = 0.3
  config.tracker.match_score_thr = 0.5
  config.tracker.memo_tracklet_frames = 5
  config.tracker.memo_backdrop_frames = 1
  config.tracker.memo_momentum = 0.8
  config.tracker.nms_conf_thr = 0.5
  config.tracker.nms_backdrop_iou_thr = 0.3
  config.tracker.nms_class_iou_thr = 0.7
  config.tracker.with_cats = True
  config.tracker.max_tracks = 64           # static tracker memory size.
  config.tracker.mask_iou_thr = 0.5        # mask-IoU association baseline (ablation).
  config.tracker.skip_empty_frames = True  # frames without things leave the memory as is (original).
  config.tracker.match_metric = "bisoftmax"  # or 'softmax', 'cosine' (the original's options).

  # ---------------------------------------------------------- optimiser
  config.optim = common.knet_adamw(decay_epochs=(9, 11))

  # ----------------------------------------------------------- schedule
  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 8              # global clips per step.
  config.train.num_epochs = 12
  config.train.dataset_repeats = 2         # one epoch = 2 passes (RepeatDataset).
  config.train.num_train_frames = 5027     # KITTI-STEP train frames (for steps/epoch).
  config.train.num_steps = -1              # -1: derived from epochs, repeats and frames.
  config.train.log_every_steps = 50
  config.train.checkpoint_every_steps = 1000
  config.train.eval_every_steps = 5000     # and at the end; 0 = never (evaluate.py instead).
  config.train.keep_checkpoints = 3
  # Non-finite loss or gradients: 0 stops at once naming the step; N > 0 skips
  # such a step's update (state kept, step counted) up to N times in a run.
  config.train.max_skipped_steps = 0

  config.mesh = (("data", -1),)

  # Start from converted weights (image K-Net -> Video K-Net, ImageNet -> K-Net).
  config.init_from = common.init_from()

  parts = common.parse_args(
      arg, file="configs/kitti_step.py",
      choices=("debug", "trainval", *swin_recipes.SWIN, *SWIN_VARIANTS),
      exclusive=[(*swin_recipes.SWIN, *SWIN_VARIANTS)])
  size = next((p for p in parts if p not in ("debug", "trainval")), None)
  debug = "debug" in parts
  if "trainval" in parts:
    apply_trainval(config)
  if size in SWIN_VARIANTS:
    SWIN_VARIANTS[size](config)
  elif size:
    apply_swin_recipe(config, size)
  if debug:
    apply_debug(config)
    if size:
      swin_recipes.apply_swin_debug(config)
  return config


def apply_trainval(config: ml_collections.ConfigDict) -> None:
  """The test-server entry as the original's README makes it: train on train
  + val (8,008 frames; the schedule's epochs over both), then
  `evaluate.py --split=test` writes the submission."""
  config.data.train_split = "train+val"
  config.train.num_train_frames = (facts_lib.KITTI_STEP.split_frames["train"]
                                   + facts_lib.KITTI_STEP.split_frames["val"])


def recipe_for(name: str, facts) -> ml_collections.ConfigDict:
  """This R50 recipe on data set `name` with the label space of its facts
  record (datasets/*/facts.py; model classes: things, then stuff)."""
  config = get_config()
  d = config.data
  d.name = name
  d.manual_dir = ""                       # the data set's tree (docs/DATA.md).
  d.generated = {}                        # non-empty: a generated set (datasets/registry.py).
  d.num_classes = facts.num_classes
  d.thing_train_ids = facts.thing_ids
  d.ignore_label = facts.void_label
  config.model.num_thing_classes = facts.num_things
  config.model.num_stuff_classes = facts.num_stuff
  return config


def apply_swin_recipe(config: ml_collections.ConfigDict, size: str) -> None:
  """The original's KITTI-STEP Swin-B/L `..._joint_update` recipe (16 GPUs x 1 clip)."""
  swin_recipes.apply_swin_backbone(config, size)
  swin_recipes.apply_fusion_and_update_link(config)
  # README: Swin-B trained on 16 GPUs, samples_per_gpu=1; the Swin-L GPU count is
  # not stated (assumed the same). Optimiser and schedule equal the R50 recipe's.
  config.train.batch_size = 16


def apply_swin_l_short_track_fc(config: ml_collections.ConfigDict) -> None:
  """The original's other Swin-L KITTI-STEP recipe,
  `video_knet_s3_swinl_rpn_1x_kitti_step_sigmoid_stride2_mask_embed_link_ffn_update_conv_short_track_fc.py`:
  kernel fusion ("update_conv": previous_link='update_dynamic_cov') with the
  R50's ffn link (previous_type='ffn') and a one-fc embedding head (num_fcs=1,
  "short_track_fc"); everything else as `swin_l`. No paper row."""
  apply_swin_recipe(config, "swin_l")
  config.model.temporal.link_type = "ffn"
  config.model.temporal.track_num_fcs = 1


# Named KITTI-STEP Swin recipes beyond `swin_b` / `swin_l` (config arguments).
SWIN_VARIANTS = {"swin_l_short_track_fc": apply_swin_l_short_track_fc}


def apply_debug(config: ml_collections.ConfigDict) -> None:
  """Shrinks every size so the same recipe runs under jit on a laptop CPU."""
  m = config.model
  common.tiny_knet_model(m, resnet=m.backbone.name == "resnet")
  m.temporal.embed_channels = 32
  m.temporal.roi_embed.update(num_groups=4, fc_channels=64)
  config.data.base_size = (64, 192)
  config.data.crop_size = (64, 192)
  config.data.eval_size = (64, 192)
  config.data.max_instances = 8
  config.data.shuffle_buffer = 16
  config.loss.stage_weights = (1.0, 1.0)
  config.train.batch_size = 2
  config.train.log_every_steps = 1
  config.train.checkpoint_every_steps = 5
  config.train.eval_every_steps = 10
  config.optim.warmup_steps = 5


def apply_generated_debug(config: ml_collections.ConfigDict) -> None:
  """`apply_debug` for a recipe_for() data set read from a generated tree
  (config.data.generated): 4 steps of one clip, no evaluation while training."""
  apply_debug(config)
  config.train.num_steps = 4
  config.train.batch_size = 1
  config.train.checkpoint_every_steps = 2
  config.train.eval_every_steps = 0
