"""The semantic task: semantic K-Net with kernel fusion (VSPW; extensions 4).

A training clip is a key frame and one reference (4.3): the reference runs
without previous kernels; with `config.model.temporal.fusion` the key frame
fuses the reference's kernels (not detached). CE losses on both frames
(losses/semantic_loss.py). AdamW with global-norm clipping and mmcv's warmup
and step decay (K-Net's semantic recipe). Data: VSPW-format clips
(data/semantic_clips.py); evaluation: mIoU and mVC (tasks/semantic_eval.py).
"""
from typing import Any, Callable

import jax.numpy as jnp
import optax

from video_knet_jax import common
from video_knet_jax import random_batch
from video_knet_jax.losses import semantic_loss
from video_knet_jax.models import backbones
from video_knet_jax.models import semantic_knet
from video_knet_jax.tasks import base

NAME = "semantic"

build_model = semantic_knet.build_model
frozen_filter = backbones.frozen_param_filter


capabilities = base.no_capabilities


def learning_rate_schedule(config) -> Callable[[Any], Any]:
  """mmcv linear warmup from lr * warmup_ratio, then x decay_gamma at each decay step."""
  o = config.optim
  decay = optax.piecewise_constant_schedule(
      o.lr, {int(s): o.decay_gamma for s in o.decay_steps})

  def schedule(step):
    warm = jnp.minimum(step / max(o.warmup_steps, 1), 1.0)
    factor = 1.0 - (1.0 - o.warmup_ratio) * (1.0 - warm)
    return decay(step) * factor
  return schedule


def make_optimizer(config, params) -> optax.GradientTransformation:
  """AdamW with global-norm clipping (K-Net's semantic recipe)."""
  del params
  return optax.chain(optax.clip_by_global_norm(config.optim.clip_norm),
                     optax.adamw(learning_rate_schedule(config),
                                 weight_decay=config.optim.weight_decay))


def total_steps(config) -> int:
  return int(config.train.num_steps)


def init_variables(model, config, rng) -> dict[str, Any]:
  size = config.data.crop_size
  images = jnp.zeros((1, 2, *size, 3), jnp.float32)
  variables = model.init({"params": rng, "dropout": rng}, images, train=False,
                         method=semantic_knet.SemanticKNet.clip_forward)
  return {"params": variables["params"],
          "batch_stats": variables.get("batch_stats", {})}


def init_input_shape(size: int) -> tuple[int, ...]:
  return (1, size, size, 3)


def loss_fn(config, model):
  ignore = int(config.data.ignore_label)
  train_bn = base.trains_batch_norm(config)

  def loss(params, batch_stats, batch, rng):
    (key_out, ref_out), new_stats = base.apply_for_training(
        model, {"params": params, "batch_stats": batch_stats},
        batch[common.IMAGE], rng=rng, train_bn=train_bn,
        method=semantic_knet.SemanticKNet.clip_forward)
    losses = semantic_loss.clip_losses(key_out, ref_out, batch[common.SEMANTIC],
                                       config.loss, ignore)
    return losses[common.LOSS_TOTAL], (losses, new_stats)

  return loss


random_train_batch = random_batch.random_semantic_clip_batch
complete_config = base.unchanged_config
train_batches = base.lazy("video_knet_jax.data.semantic_clips", "make_train_dataset")
# mIoU / mVC, VSPW-format predictions and overlays.
evaluate = base.lazy("video_knet_jax.tasks.semantic_eval", "evaluate")
format_table = base.lazy("video_knet_jax.tasks.semantic_eval", "format_table")


def default_output_name(options: base.EvalOptions) -> str:
  del options
  return "eval_semantic"
