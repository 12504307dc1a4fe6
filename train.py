r"""Trains the task a config names (config.task: panoptic, semantic, instance).

  python train.py --config=configs/synthetic_step.py --workdir=/tmp/vknet
  python train.py --config=configs/kitti_step.py --workdir=gs://... \
      --config.data.manual_dir=/data/kitti-step
  python train.py --config=configs/vspw.py:debug --workdir=/tmp/vspw
  python train.py --config=configs/youtube_vis.py:debug --workdir=/tmp/vis

Rerunning the same command resumes from the last checkpoint in --workdir.
Multi-host runs (TPU pods, several GPU hosts) call jax.distributed.initialize()
when launched that way; single-host runs need nothing.
"""
import gc
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from absl import logging
from ml_collections import config_flags

from video_knet_jax.cli import entry_point

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file, e.g. configs/kitti_step.py or ...py:debug.",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Checkpoints, logs, results.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  from video_knet_jax.cli import runtime  # pylint: disable=g-import-not-at-top
  runtime.setup()
  from video_knet_jax.train import loop  # pylint: disable=g-import-not-at-top
  from video_knet_jax.eval import driver  # pylint: disable=g-import-not-at-top
  logging.info("Config:\n%s", _CONFIG.value)
  loop.train_and_evaluate(_CONFIG.value, _WORKDIR.value,
                          evaluate_fn=driver.evaluate_in_training)
  # Everything is saved. Python's last garbage collection at exit walks every
  # object JAX and TF created (seconds on a busy 2-core machine): skip it.
  gc.freeze()


if __name__ == "__main__":
  app.run(entry_point.guard(main), flags_parser=entry_point.parse_flags)
