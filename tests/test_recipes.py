r"""Every command group of docs/RECIPES.md's checked blocks runs at `,debug` size.

By default (CI) each command is parsed as its script parses it (with `,debug`),
its config is built on the generated STEP-format set, and everything it would
run is traced abstractly with `jax.eval_shape`, without compiling: the model
init and one train step for `train.py`, the online frame step (first frame, and
with previous kernels) for `evaluate.py`. A renamed or mistyped config field,
an unknown flag, a bad value or a shape error in any switched-on code path
fails here. Identical configs are checked once.

The default check costs ~90 CPU-seconds for the ablation table (13 groups,
measured with a cold compilation cache). With VKNET_RECIPE_TEST=run each
group instead really trains 3 steps and evaluates one sequence (identical
configs trained once), as the commands do: every variant compiles its train
and online steps, about 2 CPU-minutes per group (3 groups took 360 CPU-s),
~25 CPU-minutes for the table, too much for CI's 15-minute budget:

  VKNET_RECIPE_TEST=run python -m pytest -q tests/test_recipes.py
"""
import functools
import math
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests import recipe_commands
from video_knet_jax import common
from video_knet_jax import optim
from video_knet_jax import random_batch
from video_knet_jax import shapes
from video_knet_jax import tasks
from video_knet_jax import train as train_lib
from video_knet_jax.inference import predictor as predictor_lib
from video_knet_jax.models import video_knet

RUN = os.environ.get("VKNET_RECIPE_TEST", "") == "run"
GROUPS = recipe_commands.groups()
_checked = {}     # DebugCommand.key -> result, shared by the groups (dedupe).
_variables = {}   # model config -> abstract variables.


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("recipe_tfds"))


def test_the_ablation_table_is_under_test():
  titles = [g.title for g in GROUPS]
  assert len(GROUPS) >= 12 and all(g.commands for g in GROUPS), titles
  scripts = {c.script for g in GROUPS for c in g.commands}
  assert scripts == {"train.py", "evaluate.py"}
  # The harness knows the scripts' flags from their sources.
  assert {"config", "workdir"} <= recipe_commands.script_flags("train.py")
  assert {"association", "output_dir", "max_sequences"} <= recipe_commands.script_flags(
      "evaluate.py")


@pytest.mark.parametrize("group", GROUPS, ids=[re.sub(r"\W+", "_", g.title)[:40] for g in GROUPS])
def test_group_runs_at_debug_size(group, data_dir, tmp_path):
  workdir = str(tmp_path / "work")
  for command in group.commands:
    debug = recipe_commands.debug_command(command, workdir, data_dir)
    if RUN:
      _run(debug, workdir)
    elif debug.key not in _checked:
      _checked[debug.key] = _trace(debug)


# ---------------------------------------------------------------- abstract check
def _trace(debug) -> bool:
  config = debug.config
  if tasks.name_of(config) != "panoptic":
    return _trace_other_task(debug)
  model = video_knet.build_model(config)
  model_key = config.model.to_json_best_effort(sort_keys=True) + str(config.data.num_refs)
  if model_key not in _variables:
    _variables[model_key] = jax.eval_shape(
        functools.partial(train_lib.init_variables, model, config), jax.random.key(0))
  variables = _variables[model_key]
  if debug.command.script == "train.py":
    tx = optim.make_optimizer(config, variables["params"], train_lib.frozen_filter(config))
    state = jax.eval_shape(lambda v: train_lib.TrainState(
        step=jnp.zeros((), jnp.int32), params=v["params"], batch_stats=v["batch_stats"],
        opt_state=tx.init(v["params"])), variables)
    height, width = shapes.round_up(config.data.crop_size, config.data.size_divisor)
    batch = random_batch.random_clip_batch(config, 1, height, width)
    _, measurements = jax.eval_shape(train_lib.make_train_step(config, model, tx), state, batch)
    assert common.LOSS_TOTAL in measurements
    return True
  association = debug.flags.get("association", "embedding")
  predictor = predictor_lib.VideoPredictor(model, variables, config, association=association)
  height, width = shapes.round_up(config.data.eval_size, config.data.size_divisor)
  image = jax.ShapeDtypeStruct((1, height, width, 3), jnp.float32)
  hw = jnp.asarray([height, width], jnp.int32)
  tracker_state = predictor.init_tracker_state((height, width))
  first = jax.eval_shape(predictor._frame_fn, variables, image, hw, None,  # pylint: disable=protected-access
                         tracker_state, 0)
  kernels = first[2]
  later = jax.eval_shape(predictor._frame_fn, variables, image, hw, kernels,  # pylint: disable=protected-access
                         tracker_state, 1)
  assert later[0].shape == (height, width)
  return True


def _trace_other_task(debug) -> bool:
  """Another task (instance, image_instance, semantic): model init and a
  train step on its data plug-in's batch shapes (the generated set is built
  once); for evaluate.py its option checks and the fit of the model's
  variables (what the driver does before any evaluation)."""
  from video_knet_jax.data import prepare  # pylint: disable=g-import-not-at-top
  from video_knet_jax.tasks import base  # pylint: disable=g-import-not-at-top
  config = debug.config
  task = tasks.get(config)
  model = task.build_model(config)
  variables = jax.eval_shape(
      functools.partial(task.init_variables, model, config), jax.random.key(0))
  if debug.command.script == "train.py":
    config = task.complete_config(config, prepare.ensure_dataset(config))
    spec = task.train_batches(config, batch_size=1, start_step=0, process_index=0,
                              process_count=1).element_spec
    batch = {k: jax.ShapeDtypeStruct(v.shape, v.dtype.as_numpy_dtype)
             for k, v in spec.items()}
    # The task's data-free batches (benchmarks, lowering tests) match its data's.
    random = task.random_train_batch(config, 1)
    assert {k: (v.shape, v.dtype) for k, v in random.items()} == {
        k: (tuple(v.shape), np.dtype(v.dtype)) for k, v in batch.items()}
    tx = task.make_optimizer(config, variables["params"])
    state = jax.eval_shape(lambda v: train_lib.TrainState(
        step=jnp.zeros((), jnp.int32), params=v["params"], batch_stats=v["batch_stats"],
        opt_state=tx.init(v["params"])), variables)
    _, measurements = jax.eval_shape(train_lib.make_train_step(config, model, tx, task),
                                     state, batch)
    assert common.LOSS_TOTAL in measurements
    return True
  base.check_options(task, config, driver_options(debug.flags))
  assert jax.tree.leaves(variables["params"])
  return True


def driver_options(values):
  from video_knet_jax.eval import driver  # pylint: disable=g-import-not-at-top
  return driver.EvalOptions(split=values.get("split"), association=values.get("association"),
                            max_sequences=1, in_training=True)


# ---------------------------------------------------------------- full run
def _run(debug, workdir):
  from video_knet_jax.eval import driver  # pylint: disable=g-import-not-at-top
  config, values = debug.config, debug.flags
  if debug.command.script == "train.py":
    config.train.batch_size = jax.device_count()   # one clip per (emulated) device.
    done = _checked.get(debug.key)
    if done is None:
      train_lib.train_and_evaluate(config, values["workdir"])
      _checked[debug.key] = values["workdir"]
    elif done != values["workdir"]:   # an identical config trained before: reuse it.
      os.symlink(done, values["workdir"])
    return
  if debug.key in _checked:
    return
  # evaluate.py's path (one sequence, metrics only).
  source = values.get("checkpoint") or values["workdir"]
  options = driver_options(values)
  metrics, output_dir = driver.evaluate_checkpoint(
      config, source, step=values.get("step"), output_dir=values.get("output_dir"),
      workdir=values.get("workdir"), options=options)
  headline = {"panoptic": ("STQ", "AQ", "SQ", "VPQ"), "image_instance": ("AP",),
              "instance": ("AP",), "semantic": ("mIoU",)}[tasks.name_of(config)]
  for key in headline:
    assert math.isfinite(metrics[key]) and 0.0 <= metrics[key] <= 1.0, (key, metrics)
  _checked[debug.key] = metrics
  np.testing.assert_equal(os.path.exists(os.path.join(output_dir, "metrics.json")), True)
