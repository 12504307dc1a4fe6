"""What a task module provides, and what every task shares.

A task module (a sibling of this file) defines these names:

  NAME                                    the task's name (= the module's)
  capabilities(config)                    what it supports (`Capabilities`)
  build_model(config)                     the Flax module
  init_variables(model, config, rng)      {'params', 'batch_stats'} for training
  init_input_shape(size)                  the smallest input `model.init` takes
                                          (conversion; size = a multiple of 32)
  loss_fn(config, model)                  (params, batch_stats, batch, rng) ->
                                          (loss, (named parts, new batch_stats))
  make_optimizer(config, params)          the optax transformation
  learning_rate_schedule(config)          step -> learning rate (logged)
  frozen_filter(config)                   path -> whether the parameter is frozen
  total_steps(config)                     the run's number of optimizer steps
  complete_config(config, builder)        the config with fields the built data
                                          set decides (most tasks: unchanged)
  train_batches(config, *, batch_size, start_step, process_index, process_count)
                                          this host's numpy batches (its slice of
                                          one global clip stream), from step
                                          `start_step` on
  evaluate(config, variables, output_dir, options)
                                          scores the eval split; writes its files
                                          under output_dir (None: write nothing)
  format_table(metrics)                   the printed result
  default_output_name(options)            WORKDIR/<this> when --output_dir is absent

and, where its capabilities say so, `dump_raw_outputs(config, source,
output, *, frames, split, step)`. For benchmarks and the GPU/TPU lowering
tests (no data set built) a task also defines

  random_train_batch(config, batch_size, seed=0)
                                          numpy training clips of random
                                          content, with the keys, shapes and
                                          dtypes of `train_batches`' batches
                                          (the input size from the config)
"""
import dataclasses
import importlib
import types
from typing import Any, Callable

from video_knet_jax.cli import entry_point

REQUIRED = ("NAME", "capabilities", "build_model", "init_variables",
            "init_input_shape", "loss_fn", "make_optimizer",
            "learning_rate_schedule", "frozen_filter", "total_steps",
            "complete_config", "train_batches", "evaluate", "format_table",
            "default_output_name")


@dataclasses.dataclass(frozen=True)
class Capabilities:
  """What a task supports beyond training and evaluation.

  A command-line option for something the task does not support is refused
  with a one-line error, never ignored.
  """
  associations: tuple[str, ...] = ()   # evaluate.py --association choices.
  dump_frames: bool = False            # evaluate.py --dump_frames (raw outputs).
  predict: bool = False                # predict.py / api on a user's video.
  export: bool = False                 # export.py (StableHLO / SavedModel).


@dataclasses.dataclass(frozen=True)
class EvalOptions:
  """How evaluate.py (or the train loop) asks a task to evaluate.

  None means the task's default (the config's eval split, every video, the
  task's default association). `in_training`: metrics only, no submission
  files or pictures (evaluation inside the train loop).
  """
  split: str | None = None
  association: str | None = None
  max_sequences: int | None = None
  in_training: bool = False


def no_capabilities(config) -> Capabilities:
  """`capabilities` of a task that supports none beyond train and evaluate."""
  del config
  return Capabilities()


def check_protocol(module: types.ModuleType) -> None:
  missing = [name for name in REQUIRED if not hasattr(module, name)]
  if missing:
    raise TypeError(f"Task module {module.__name__} lacks {missing} "
                    "(video_knet_jax/tasks/base.py lists what a task defines).")


def refuse(task: types.ModuleType, what: str) -> entry_point.UserError:
  return entry_point.UserError(
      f"{what}: not supported by the {task.NAME} task (config.task="
      f"{task.NAME!r}).")


def check_options(task: types.ModuleType, config, options: EvalOptions) -> None:
  """Raises a one-line UserError for an option the task does not support."""
  if options.association is not None:
    associations = task.capabilities(config).associations
    if not associations:
      raise refuse(task, f"--association={options.association}")
    if options.association not in associations:
      raise entry_point.UserError(
          f"--association={options.association}: this {task.NAME} model "
          f"offers {list(associations)}.")
  if options.max_sequences is not None and options.max_sequences < 1:
    raise entry_point.UserError(
        f"--max_sequences={options.max_sequences} must be >= 1.")


def require(task: types.ModuleType, config, capability: str, what: str) -> None:
  """Raises a one-line UserError unless `task` supports `capability`."""
  if not getattr(task.capabilities(config), capability):
    raise refuse(task, what)


def lazy(module: str, name: str) -> Callable:
  """`module.name`, imported at its first call: a task module stays cheap to
  import (no TensorFlow) for the code that needs only its model."""
  def call(*args, **kwargs):
    return getattr(importlib.import_module(module), name)(*args, **kwargs)
  call.__name__ = call.__qualname__ = name
  call.__doc__ = f"{module}.{name} (imported when first called)."
  return call


def unchanged_config(config, builder):
  """`complete_config` of a task whose config needs nothing from the data set."""
  del builder
  return config


def train_frames_from_split(config, builder):
  """`complete_config` of a task that counts an epoch's images: sets
  config.train.num_train_frames from the built train split when it is -1."""
  if config.train.num_train_frames > 0:
    return config
  import ml_collections  # pylint: disable=g-import-not-at-top
  config = ml_collections.ConfigDict(config.to_dict())
  config.train.num_train_frames = builder.info.splits[
      config.data.train_split].num_examples
  return config


def apply_for_training(model, variables: dict, inputs, *, rng, train_bn: bool,
                       method: Callable | None = None,
                       **model_kwargs) -> tuple[Any, Any]:
  """`model.apply` in training mode -> (outputs, batch_stats after the step).

  BatchNorm statistics are updated only when the backbone trains them
  (`train_bn`, i.e. not `norm_eval`); `rng` feeds dropout and drop path;
  `model_kwargs` go to the model (e.g. GT masks of a mask embedding).
  """
  kwargs = dict(train=True, rngs={"dropout": rng}, **model_kwargs)
  if method is not None:
    kwargs["method"] = method
  if train_bn:
    outputs, updates = model.apply(variables, inputs, mutable=["batch_stats"],
                                   **kwargs)
    return outputs, updates["batch_stats"]
  return model.apply(variables, inputs, **kwargs), variables["batch_stats"]


def trains_batch_norm(config) -> bool:
  """Whether the backbone's BatchNorm statistics are trained (not norm_eval;
  Swin has LayerNorms only and keeps the default)."""
  return not config.model.backbone.get("norm_eval", True)
