r"""Video K-Net on the generated STEP-format video set (the embedded default).

The same recipe as `configs/kitti_step.py`, scaled down so that a small model
trains and evaluates on 2 CPU cores in about 40 minutes (`:short`, half the
steps, in about 20). The data set is generated on first use (see
`datasets/synthetic_step/`).

  python train.py --config=configs/synthetic_step.py --workdir=/tmp/vknet
  python evaluate.py --config=configs/synthetic_step.py --workdir=/tmp/vknet
  python train.py --config=configs/synthetic_step.py:debug --workdir=/tmp/dbg
  python train.py --config=configs/synthetic_step.py:short --workdir=/tmp/vknet_short
"""
from video_knet_jax.configs import kitti_step


def get_config(arg: str = ""):
  """Returns the synthetic-set config; `arg='debug'` shrinks it further,
  `arg='short'` trains half as many steps."""
  config = kitti_step.get_config()
  config.data.name = "synthetic_step"
  # Val: 16 sequences from id 1000 (4 were too few: per-sequence AQ ranges
  # 15-60). Another first_val_sequence (e.g. 2000) is a held-out dev set for
  # choosing settings without looking at val (docs/RESULTS.md).
  config.data.synthetic = dict(
      seed=0, num_train_sequences=12, num_val_sequences=16, first_val_sequence=1000,
      frames_per_sequence=24, height=128, width=384)
  config.data.base_size = (128, 384)
  config.data.crop_size = (128, 384)
  config.data.eval_size = (128, 384)
  config.data.scale_range = (0.75, 1.25)
  config.data.max_instances = 16
  config.data.shuffle_buffer = 256
  # Targets built by the host pipeline (its threads run beside the CPU step;
  # the recipe's runs were measured this way); identical to on-device ones.
  config.data.targets_on_device = False
  config.train.num_train_frames = 12 * 24

  m = config.model
  m.num_proposals = 20
  m.feat_channels = 64
  m.backbone.stage_blocks = (1, 1, 1, 1)
  m.backbone.base_width = 16
  m.backbone.frozen_stages = -1           # no ImageNet weights here: train it all.
  m.semantic_fpn.num_groups = 8
  m.semantic_fpn.pe_num_feats = 32
  # Masks at stride 4 (as the image K-Net), still supervised at stride 2:
  # the synthetic people are ~8 px wide, one cell at stride 8.
  m.semantic_fpn.upsample_times = 3
  m.kernel_head.feat_downsample_stride = 2
  m.update_head.mask_upsample_stride = 2
  m.update_head.num_heads = 4
  m.update_head.ffn_channels = 256
  m.temporal.embed_channels = 64

  # One clip per step, many updates: on 2 CPU cores a step costs ~0.25 s per
  # clip at any batch size, and more updates learn more in a fixed time
  # (docs/RESULTS.md, on the old 4-sequence val split: batch 2 for 2,000
  # steps gave STQ 45.4 in 18.7 min, batch 1 for 3,400 steps 49.1-50.4 in
  # about 17 min, for 3,800 steps 48.4-50.7 over three seeds).
  # 7,600 steps since session 7: 3,800 (now `:short`) stayed below STQ 50 on
  # val for three seeds (mean 48.3); 7,600 gave 58.0 / 56.8 on dev and
  # 54.6 / 52.6 on val for seeds 0 / 1 (docs/RESULTS.md, runs 28-29).
  config.train.batch_size = 1
  config.train.num_steps = 7600
  config.train.log_every_steps = 50
  config.train.checkpoint_every_steps = 500
  config.train.eval_every_steps = 0       # none: the README command runs evaluate.py.
  # The merge's overlap test at 0.4 instead of the paper's 0.6: chosen on the
  # dev sequences 2000-2015 (+1.3 STQ over five models there; docs/RESULTS.md),
  # where two kernels on one object otherwise leave it void.
  config.inference.overlap_thr = 0.4
  # AdamW at 1e-3 (was 5e-4): +1.3 dev STQ on the two seeds it was chosen on,
  # within the noise over three (docs/RESULTS.md); 2e-3 breaks the ids.
  config.optim.lr = 1e-3
  config.optim.backbone_lr_mult = 1.0
  config.optim.warmup_steps = 100
  config.optim.decay_epochs = ()          # single step decay given by steps below.
  config.optim.decay_steps = (6700,)
  if arg == "debug":
    kitti_step.apply_debug(config)
    config.data.synthetic.update(num_train_sequences=2, num_val_sequences=1,
                                 frames_per_sequence=6, height=64, width=192)
    config.train.num_train_frames = 12
    config.train.num_steps = 10
    config.train.batch_size = 1             # the full recipe's batch.
  elif arg == "short":
    # Half the steps (3,800, decay at 3,350: the same fraction), the recipe
    # until session 6: about 20 minutes, val STQ 49.8 (docs/RESULTS.md, run 25).
    config.train.num_steps //= 2
    config.optim.decay_steps = tuple(step // 2 for step in config.optim.decay_steps)
  elif arg:
    raise ValueError(f"Unknown config argument {arg!r}; expected '', 'debug' or 'short'.")
  return config
