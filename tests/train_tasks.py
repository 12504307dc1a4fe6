r"""Trains tiny task configs in turn in one process (tests/test_multiprocess.py).

  python -m tests.train_tasks --runs='[{"task": "semantic", "data_dir": D,
      "workdir": W, "num_steps": 2, "eval_every": 0}, ...]' --logtostderr

Each run is `tests/task_configs.tiny_config` with a checkpoint and a log every
step, trained by the one loop with the driver's in-training evaluation; a
multi-process launch (JAX_COORDINATOR_ADDRESS etc.) trains them all jointly.
"""
import json

from absl import app
from absl import flags

_RUNS = flags.DEFINE_string("runs", None, "JSON list of runs.", required=True)


def config_of(run: dict):
  from tests import task_configs  # pylint: disable=g-import-not-at-top
  config = task_configs.tiny_config(run["task"], run["data_dir"],
                                    num_steps=run["num_steps"])
  config.train.checkpoint_every_steps = 1
  config.train.log_every_steps = 1
  config.train.eval_every_steps = run["eval_every"]
  return config


def main(argv):
  del argv
  from video_knet_jax.cli import runtime  # pylint: disable=g-import-not-at-top
  runtime.setup()
  from video_knet_jax import train  # pylint: disable=g-import-not-at-top
  from video_knet_jax.eval import driver  # pylint: disable=g-import-not-at-top
  for run in json.loads(_RUNS.value):
    train.train_and_evaluate(config_of(run), run["workdir"],
                             evaluate_fn=driver.evaluate_in_training)


if __name__ == "__main__":
  app.run(main)
