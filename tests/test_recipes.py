r"""Every command group of docs/RECIPES.md's checked blocks runs at `,debug` size.

By default (CI) each command is parsed as its script parses it (with `,debug`),
its config is built on the generated STEP-format set, and what it would run is
traced abstractly with `jax.eval_shape`, without compiling: the model init,
the optimizer's state and the train step's loss (model forward and every
loss; the backward pass is autodiff of it) for `train.py`, the online frame
step (first frame, and with previous kernels) for `evaluate.py`. A renamed or mistyped config field,
an unknown flag, a bad value or a shape error in any switched-on code path
fails here. Identical configs are checked once.

The default check of every row of the file (37 tests, the other data sets'
semantic and instance groups traced through the task registry) takes 113 s
on an idle 2-core machine (213-292 s inside the full suite when the train
step's backward and update were traced too). With VKNET_RECIPE_TEST=run each
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
from video_knet_jax.tasks import base

RUN = os.environ.get("VKNET_RECIPE_TEST", "") == "run"
GROUPS = recipe_commands.groups()
_checked = {}     # DebugCommand.key -> result, shared by the groups (dedupe).
_variables = {}   # model config -> abstract variables.


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("recipe_tfds"))


def _commands_in_prose(path=recipe_commands.RECIPES):
  """Every `python train.py|evaluate.py ...` the file shows: in table cells
  (backticks, `&&`-chained) and in bash blocks, whitespace collapsed."""
  text = open(path).read()
  found = []
  for span in re.findall(r"`(python (?:train|evaluate)\.py[^`]*)`", text):
    found += [c.strip() for c in span.split("&&")]
  for block in re.findall(r"```(?:bash)?\n(.*?)```", text, flags=re.S):
    for line in block.replace("\\\n", " ").splitlines():
      if re.match(r"\s*python (train|evaluate)\.py", line):
        found.append(line.split("#")[0].strip())
  # Folder scoring (`--dataset=`) has its own tests (tests/test_vipseg_folder_scores.py).
  return {" ".join(c.split()) for c in found if "--dataset=" not in c}


def test_every_command_of_the_file_is_under_test():
  """A row's command shown anywhere in RECIPES.md is one of the checked ones."""
  checked = {" ".join(str(c).split()) for g in GROUPS for c in g.commands}
  shown = _commands_in_prose()
  assert len(shown) >= 30 and not shown - checked, sorted(shown - checked)
  configs = {re.search(r"--config=(\S+)", c).group(1) for c in checked}
  for name in ("kitti_step.py:trainval", "cityscapes_vps.py:swin_b", "vipseg.py:swin_b",
               "vspw.py:pspnet", "youtube_vis.py:swin_b", "cityscapes_step.py:swin_b"):
    assert f"configs/{name}" in configs, name


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
def _abstract_batch(config, task: str) -> dict:
  """One train batch of `task` as shapes (the semantic and instance clip
  pipelines' signatures, one clip)."""
  f32, i32 = jnp.float32, jnp.int32
  if task not in ("semantic", "instance"):   # e.g. image_instance: its random batch.
    return {k: jax.ShapeDtypeStruct(v.shape, v.dtype)
            for k, v in tasks.get(task).random_train_batch(config, 1).items()}
  if task == "semantic":   # key frame + one reference (semantic_clips).
    h, w = config.data.crop_size
    return {common.IMAGE: jax.ShapeDtypeStruct((1, 2, h, w, 3), f32),
            common.SEMANTIC: jax.ShapeDtypeStruct((1, 2, h, w), i32)}
  t, m = int(config.data.clip_length), int(config.data.max_instances)
  h, w = config.data.canvas   # instance: vis_clips.clip_signature.
  return {common.IMAGE: jax.ShapeDtypeStruct((1, t, h, w, 3), f32),
          common.TUBE_MASKS: jax.ShapeDtypeStruct((1, t, m, h, w), jnp.uint8),
          common.TUBE_PRESENT: jax.ShapeDtypeStruct((1, t, m), jnp.bool_),
          common.TUBE_LABELS: jax.ShapeDtypeStruct((1, m), i32),
          common.TUBE_VALID: jax.ShapeDtypeStruct((1, m), jnp.bool_)}


def _trace_other_task(debug, task) -> bool:
  """The semantic and instance tasks: init, optimizer and one train step
  traced for train.py; for evaluate.py its options checked against the task
  and the abstract variables against the model (the driver's fit check)."""
  from video_knet_jax.eval import driver  # pylint: disable=g-import-not-at-top
  config = debug.config
  module = tasks.get(config)
  model = module.build_model(config)
  variables = jax.eval_shape(functools.partial(module.init_variables, model, config),
                             jax.random.key(0))
  if debug.command.script == "train.py":
    tx = module.make_optimizer(config, variables["params"])
    state = jax.eval_shape(lambda v: train_lib.TrainState(
        step=jnp.zeros((), jnp.int32), params=v["params"], batch_stats=v["batch_stats"],
        opt_state=tx.init(v["params"])), variables)
    return _trace_loss(config, model, module, state, _abstract_batch(config, task))
  options = driver.EvalOptions(split=debug.flags.get("split"),
                               association=debug.flags.get("association"))
  base.check_options(module, config, options)
  driver.check_variables_fit(config, variables, "the traced init", module)
  return True


def _trace_loss(config, model, module, state, batch) -> bool:
  """The train step's loss (model forward + every loss) traced on the
  abstract state: the backward pass and the update are autodiff and optax
  over what the forward traced (tests/train/test_step.py runs them)."""
  total, (parts, _) = jax.eval_shape(module.loss_fn(config, model), state.params,
                                     state.batch_stats, batch, jax.random.key(0))
  assert total.shape == () and parts, parts
  return True


def _trace(debug) -> bool:
  config = debug.config
  task = tasks.get(config).NAME
  if task != "panoptic":
    return _trace_other_task(debug, task)
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
    return _trace_loss(config, model, tasks.get(config), state, batch)
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
  # evaluate.py's path (one sequence; a split without labels writes its
  # submission and scores nothing).
  source = values.get("checkpoint") or values["workdir"]
  unlabelled = values.get("split") in ("test", "valid")
  options = driver.EvalOptions(split=values.get("split"), association=values.get("association"),
                               max_sequences=1, in_training=not unlabelled)
  metrics, output_dir = driver.evaluate_checkpoint(
      config, source, step=values.get("step"), output_dir=values.get("output_dir"),
      workdir=values.get("workdir"), options=options)
  _checked[debug.key] = metrics
  written = os.path.exists(os.path.join(output_dir, "metrics.json"))
  if unlabelled:
    assert metrics == {} and not written and os.listdir(output_dir), output_dir
    return
  assert written and metrics
  if tasks.get(config).NAME == "panoptic":
    assert metrics["num_frames"] > 0
    for key in ("STQ", "AQ", "SQ", "VPQ"):
      assert math.isfinite(metrics[key]) and 0.0 <= metrics[key] <= 1.0, (key, metrics)
