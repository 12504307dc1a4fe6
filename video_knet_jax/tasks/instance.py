"""The instance task: the clip-level KNetTrack (YouTube-VIS; extensions 3).

Training clips of `config.data.clip_length` frames with their instances in
`max_instances` slots (data/vis_clips.py), the clip-level loss
(losses/clip_loss.py), the AdamW groups of optim.py; the backbone's
BatchNorm stays frozen, as the original. `config.init_from` starts it from a
COCO instance K-Net (3.5). Evaluation: whole-video inference scored by the
official cocoapi's AP / AR, and the server's results.json
(tasks/instance_eval.py).
"""
import jax.numpy as jnp

from video_knet_jax import common
from video_knet_jax import optim
from video_knet_jax import random_batch
from video_knet_jax.losses import clip_loss
from video_knet_jax.models import backbones
from video_knet_jax.models import knet_track
from video_knet_jax.tasks import base

NAME = "instance"

build_model = knet_track.build_model
learning_rate_schedule = optim.learning_rate_schedule
total_steps = optim.total_steps
frozen_filter = backbones.frozen_param_filter


capabilities = base.no_capabilities


def init_variables(model, config, rng) -> dict:
  clip = jnp.zeros((1, config.data.clip_length, *config.data.canvas, 3))
  variables = model.init(rng, clip)
  return {"params": variables["params"],
          "batch_stats": variables.get("batch_stats", {})}


def init_input_shape(size: int) -> tuple[int, ...]:
  return (1, 1, size, size, 3)


def make_optimizer(config, params):
  return optim.make_optimizer(config, params, frozen_filter(config))


def loss_fn(config, model):
  if base.trains_batch_norm(config):   # Swin has no BN.
    raise ValueError("KNetTrack training keeps BatchNorm frozen "
                     "(config.model.backbone.norm_eval=True), as the original.")

  def loss(params, batch_stats, batch, rng):
    outputs, new_stats = base.apply_for_training(
        model, {"params": params, "batch_stats": batch_stats},
        batch[common.IMAGE], rng=rng, train_bn=False)
    total, parts = clip_loss.knet_track_loss(outputs, batch, config)
    return total, (parts, new_stats)

  return loss


random_train_batch = random_batch.random_vis_clip_batch
# config.train.num_train_frames from the built train split when -1.
complete_config = base.train_frames_from_split


train_batches = base.lazy("video_knet_jax.data.vis_clips", "make_train_dataset")
# AP / AR, the server's results.json, groundtruth.json and pictures.
evaluate = base.lazy("video_knet_jax.tasks.instance_eval", "evaluate")
format_table = base.lazy("video_knet_jax.tasks.instance_eval", "format_table")


def default_output_name(options: base.EvalOptions) -> str:
  del options
  return "eval_youtube_vis"
