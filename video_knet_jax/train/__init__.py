"""The one training machinery every task uses.

  state.py   TrainState on the mesh, `init_from`
  step.py    the jitted, sharded train step around the task's loss
  loop.py    the loop: checkpoints, preemption, non-finite policy, fetch,
             transfer guard, writers, evaluation, multi-host

The names below are this package's surface (benchmarks and tests use them).
"""
from video_knet_jax import tasks
from video_knet_jax.train.state import TrainState
from video_knet_jax.train.state import create_train_state
from video_knet_jax.train.state import merge_init_from
from video_knet_jax.train.state import StateSpec
from video_knet_jax.train.state import train_state_spec
from video_knet_jax.train.step import BuiltStep
from video_knet_jax.train.step import build_train_step
from video_knet_jax.train.step import jit_train_step
from video_knet_jax.train.step import make_train_step


def init_variables(model, config, rng) -> dict:
  """The task's model variables ({'params', 'batch_stats'}) for `config`."""
  return tasks.get(config).init_variables(model, config, rng)


def train_and_evaluate(config, workdir: str, **kwargs) -> dict:
  """The loop (loop.py), for every task; see its docstring."""
  from video_knet_jax.train import loop  # pylint: disable=g-import-not-at-top
  return loop.train_and_evaluate(config, workdir, **kwargs)


def frozen_filter(config):
  """`is_frozen(path)` of the config's task (its backbone's frozen stages)."""
  return tasks.get(config).frozen_filter(config)


__all__ = ["TrainState", "StateSpec", "train_state_spec", "create_train_state", "merge_init_from",
           "BuiltStep", "build_train_step", "jit_train_step", "make_train_step", "init_variables",
           "frozen_filter", "train_and_evaluate"]
