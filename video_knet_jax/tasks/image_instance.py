"""The image instance task: the image K-Net on COCO 2017 instances (mask AP).

The original's `configs/det/coco/knet_s3_*_ms-3x_coco.py` (extensions 3.5):
the image `KNet` (no linking or embeddings, `config.model.temporal.enabled=
False`, no stuff classes) trained on single images with the image K-Net's
losses; its checkpoint initialises KNetTrack (the instance task) through
`config.init_from`. Data: data/coco_instance_clips.py (ms-3x resize or
large-scale jitter); evaluation: tasks/image_instance_eval.py (pycocotools'
mask AP and the COCO results file). configs/coco.py sets it.
"""
import jax.numpy as jnp
import numpy as np

from video_knet_jax import common
from video_knet_jax import optim
from video_knet_jax.losses import image_loss
from video_knet_jax.models import backbones
from video_knet_jax.models import video_knet
from video_knet_jax.tasks import base
from video_knet_jax.tasks import panoptic

NAME = "image_instance"

build_model = video_knet.build_model
learning_rate_schedule = optim.learning_rate_schedule
total_steps = optim.total_steps
frozen_filter = backbones.frozen_param_filter
capabilities = base.no_capabilities
# The image K-Net's, as the panoptic task builds it.
init_input_shape = panoptic.init_input_shape
make_optimizer = panoptic.make_optimizer


def _check_image_model(config) -> None:
  if video_knet.is_temporal(config.model) or config.model.num_stuff_classes:
    raise ValueError("The image_instance task trains the image K-Net on things "
                     "only: config.model.temporal.enabled=False and "
                     "config.model.num_stuff_classes=0 (configs/coco.py).")


def init_variables(model, config, rng) -> dict:
  _check_image_model(config)
  variables = model.init(rng, jnp.zeros((1, *config.data.canvas, 3)))
  return {"params": variables["params"],
          "batch_stats": variables.get("batch_stats", {})}


def loss_fn(config, model):
  _check_image_model(config)
  train_bn = base.trains_batch_norm(config)

  def loss(params, batch_stats, batch, rng):
    outputs, new_stats = base.apply_for_training(
        model, {"params": params, "batch_stats": batch_stats},
        batch[common.IMAGE][:, 0], rng=rng, train_bn=train_bn)
    total, parts = image_loss.image_knet_loss(outputs, batch, config)
    return total, (parts, new_stats)

  return loss


def random_train_batch(config, batch_size: int, seed: int = 0) -> dict:
  """Random images of the canvas with up to 3 box-shaped instances each, in
  the keys, shapes and dtypes of data/coco_instance_clips.py's batches."""
  rng = np.random.default_rng(seed)
  height, width = (int(s) for s in config.data.canvas)
  m = int(config.data.max_instances)
  shape = (batch_size, 1)
  batch = {
      common.IMAGE: rng.normal(size=shape + (height, width, 3)).astype(np.float32),
      common.PADDING_MASK: np.zeros(shape + (height, width), bool),
      common.THING_MASKS: np.zeros(shape + (m, height, width), np.uint8),
      common.THING_CLASSES: np.zeros(shape + (m,), np.int32),
      common.THING_VALID: np.zeros(shape + (m,), bool),
      common.STUFF_MASKS: np.zeros(shape + (0, height, width), np.uint8),
      common.STUFF_VALID: np.zeros(shape + (0,), bool),
  }
  for b in range(batch_size):
    for i in range(min(3, m)):
      h, w = int(rng.integers(2, height // 2)), int(rng.integers(2, width // 2))
      y, x = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
      batch[common.THING_MASKS][b, 0, i, y:y + h, x:x + w] = 1
      batch[common.THING_CLASSES][b, 0, i] = rng.integers(
          config.model.num_thing_classes)
      batch[common.THING_VALID][b, 0, i] = True
  return batch


# config.train.num_train_frames from the built train split when -1.
complete_config = base.train_frames_from_split


train_batches = base.lazy("video_knet_jax.data.coco_instance_clips",
                          "make_train_dataset")
# Mask AP (pycocotools) and the COCO results file.
evaluate = base.lazy("video_knet_jax.tasks.image_instance_eval", "evaluate")
format_table = base.lazy("video_knet_jax.tasks.image_instance_eval",
                         "format_table")


def default_output_name(options: base.EvalOptions) -> str:
  del options
  return "eval_coco_instances"
