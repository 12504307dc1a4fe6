"""The panoptic task: Video K-Net (video panoptic segmentation, tracking).

With `config.model.temporal.enabled=False` the same task trains and
evaluates the original's image K-Net (single frames, no linking or
embeddings; its evaluation feeds its raw thing kernels to the learned
tracker, the paper's "toy" row, or associates by mask IoU). Data: STEP-format
(KITTI-STEP, Cityscapes-STEP/-VPS, VIPSeg, generated sets) through
`data/panoptic_clips.py`; evaluation: `tasks/panoptic_eval.py` (STQ, VPQ,
KITTI-STEP / COCO-panoptic submission files, pictures).
"""
import jax.numpy as jnp

from video_knet_jax import common
from video_knet_jax import optim
from video_knet_jax import random_batch
from video_knet_jax import shapes
from video_knet_jax.data import device_targets
from video_knet_jax.losses import image_loss
from video_knet_jax.losses import video_loss
from video_knet_jax.models import backbones
from video_knet_jax.models import video_knet
from video_knet_jax.tasks import base

NAME = "panoptic"
EMBEDDING, MASK_IOU = "embedding", "mask_iou"

build_model = video_knet.build_model
learning_rate_schedule = optim.learning_rate_schedule
total_steps = optim.total_steps
frozen_filter = backbones.frozen_param_filter


def capabilities(config) -> base.Capabilities:
  """Both associations: the learned tracker on the embeddings (an image
  K-Net hands it its raw kernels, the paper's "toy" row) or mask IoU."""
  return base.Capabilities(
      associations=(EMBEDDING, MASK_IOU),
      dump_frames=True, predict=True, export=True)


def dummy_clip(config, batch_size: int = 1):
  """An all-zero clip [B, T, H, W, 3] of the training crop size."""
  height, width = shapes.round_up(config.data.crop_size, config.data.size_divisor)
  frames = 1 + config.data.num_refs
  return jnp.zeros((batch_size, frames, height, width, 3), jnp.float32)


def init_variables(model, config, rng) -> dict:
  """Model variables; `clip_forward` traces the linking path too (an image
  K-Net, `config.model.temporal.enabled=False`, is traced on one frame)."""
  if not video_knet.is_temporal(config.model):
    variables = model.init(rng, dummy_clip(config)[:, 0])
  else:
    variables = model.init(rng, dummy_clip(config),
                           method=video_knet.VideoKNet.clip_forward)
  return {"params": variables["params"],
          "batch_stats": variables.get("batch_stats", {})}


def init_input_shape(size: int) -> tuple[int, ...]:
  return (1, size, size, 3)


def make_optimizer(config, params):
  return optim.make_optimizer(config, params, frozen_filter(config))


def loss_fn(config, model):
  temporal = video_knet.is_temporal(config.model)
  train_bn = base.trains_batch_norm(config)
  target_params = device_targets.target_params(config)

  def loss(params, batch_stats, batch, rng):
    # Compact label maps (config.data.targets_on_device) -> padded targets.
    batch = device_targets.complete_batch(batch, target_params)
    # The image K-Net sees frame 0 of single-frame clips (num_refs = 0).
    images = batch[common.IMAGE] if temporal else batch[common.IMAGE][:, 0]
    outputs, new_stats = base.apply_for_training(
        model, {"params": params, "batch_stats": batch_stats}, images, rng=rng,
        train_bn=train_bn,
        method=video_knet.VideoKNet.clip_forward if temporal else None,
        **video_knet.clip_inputs(config, batch))   # GT masks of a mask embedding.
    if temporal:
      total, parts = video_loss.video_knet_loss(outputs, batch, config)
    else:
      total, parts = image_loss.image_knet_loss(outputs, batch, config)
    return total, (parts, new_stats)

  return loss


def random_train_batch(config, batch_size: int, seed: int = 0) -> dict:
  """Random training clips of the crop size, as the data pipeline ships them
  (compact label maps with `config.data.targets_on_device`)."""
  height, width = (int(s) for s in config.data.crop_size)
  batch = random_batch.random_clip_batch(config, batch_size, height, width, seed=seed)
  if config.data.get("targets_on_device", False):   # the step builds the targets.
    divisor = device_targets.target_params(config).panoptic_divisor
    batch = random_batch.compact_labels(batch, divisor)
  return batch


complete_config = base.unchanged_config
train_batches = base.lazy("video_knet_jax.data.panoptic_clips", "make_train_dataset")
# STQ / VPQ, submission files and pictures.
evaluate = base.lazy("video_knet_jax.tasks.panoptic_eval", "evaluate")
format_table = base.lazy("video_knet_jax.tasks.panoptic_eval", "format_table")


def default_output_name(options: base.EvalOptions) -> str:
  return f"eval_{options.association or EMBEDDING}"


def dump_raw_outputs(config, source: str, output: str, *, frames: str,
                     split: str | None, step: int | None) -> None:
  """The last stage's raw outputs of some frames (parity debugging)."""
  from video_knet_jax.convert import dump_outputs  # pylint: disable=g-import-not-at-top
  dump_outputs.run(config, source, output, frames=frames, split=split,
                   step=step)
