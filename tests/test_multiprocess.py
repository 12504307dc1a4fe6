"""Two processes train as one, for every task.

Two processes on localhost (JAX's distributed runtime, a local coordinator,
gloo collectives), one CPU device each, train the tiny config of each task in
turn (tests/train_tasks.py: a 2-device mesh, one clip per device) for 2 steps,
writing each task's checkpoints jointly and evaluating the panoptic one once;
the same launch again resumes every task from its joint checkpoint for a third
step. One in-process run on 2 devices per task is the reference: the logged
losses agree within 1e-5 at every step, parameters and optimizer state within
1e-5 after step 1 and up to AdamW's amplification of rounding after that, and
the evaluation is written once (by process 0) with the reference's numbers.
"""
import glob
import json
import os
import socket
import subprocess

import numpy as np
import pytest

import jax

from tests import task_configs
from tests import train_process
from tests import train_tasks
from video_knet_jax import checkpointing
from video_knet_jax import train
from video_knet_jax.eval import driver

pytestmark = pytest.mark.slow   # 2 launches of 2 processes x 3 tasks + 3 runs here.

TIMEOUT_S = 600   # per 2-process launch: a hang fails instead of blocking CI.
EVAL_STEP = 2
TASKS = task_configs.TASKS
EVALUATED = "panoptic"   # the in-training evaluation is the driver's for every task.


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _run_two_processes(runs: list) -> list[str]:
  """Launches tests/train_tasks.py as processes 0 and 1 of 2; returns their logs."""
  port = _free_port()
  args = ["-m", "tests.train_tasks", f"--runs={json.dumps(runs)}",
          "--logtostderr"]
  children = [train_process.Child(args, env=train_process.child_env(
      num_devices=1, JAX_NUM_PROCESSES=2, JAX_PROCESS_ID=p,
      JAX_COORDINATOR_ADDRESS=f"localhost:{port}")) for p in range(2)]
  try:
    codes = [child.wait(TIMEOUT_S) for child in children]
  except subprocess.TimeoutExpired:
    for child in children:
      child.proc.kill()
    pytest.fail("2-process training did not finish in "
                f"{TIMEOUT_S} s:\n" + "\n".join(c.log(30) for c in children))
  logs = [child.log(last=10**6) for child in children]
  for p, (code, log) in enumerate(zip(codes, logs)):
    assert code == 0, f"process {p} exited with {code}:\n{log[-5000:]}"
  return logs


def _logged(workdir: str, tag: str = "loss") -> dict[int, float]:
  """step -> scalar `tag` from the TensorBoard event files of a workdir."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  values = {}
  for path in sorted(glob.glob(os.path.join(workdir, "events.out.tfevents.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == tag:
          assert event.step not in values, f"step {event.step} logged twice"
          values[event.step] = float(tf.make_ndarray(value.tensor))
  return values


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """Workdirs (task -> (1 x 2, 2 x 1)) and the two launches' logs."""
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  root = tmp_path_factory.mktemp("multiprocess")
  workdirs = {task: (str(root / f"{task}_1x2"), str(root / f"{task}_2x1"))
              for task in TASKS}

  def run(task, num_steps, eval_every, workdir):
    return dict(task=task, data_dir=data_dir, workdir=workdir,
                num_steps=num_steps, eval_every=eval_every)

  def evaluate_once(config, state, workdir, step):
    if step != EVAL_STEP:
      return {}
    return driver.evaluate_in_training(config, state, workdir, step)

  assert jax.device_count() == 8
  for task in TASKS:   # the reference; it also builds the data sets.
    config = train_tasks.config_of(run(task, 3, EVAL_STEP if task == EVALUATED
                                       else 0, None))
    train.train_and_evaluate(config, workdirs[task][0], evaluate_fn=evaluate_once)
  first = _run_two_processes([
      run(task, EVAL_STEP, EVAL_STEP if task == EVALUATED else 0,
          workdirs[task][1]) for task in TASKS])
  again = _run_two_processes([run(task, 3, 0, workdirs[task][1])
                              for task in TASKS])
  return workdirs, first, again


@pytest.mark.parametrize("task", TASKS)
def test_losses_match_one_process(runs, task):
  single, double = runs[0][task]
  reference, losses = _logged(single), _logged(double)
  assert sorted(reference) == sorted(losses) == [1, 2, 3]
  for step in reference:
    np.testing.assert_allclose(losses[step], reference[step], rtol=1e-5,
                               err_msg=f"step {step}")


def _state_differences(runs, task, step):
  """|2 x 1 - 1 x 2| per leaf of the saved train state at `step`."""
  single, double = runs[0][task]
  a = checkpointing.load_train_tree(single, step)
  b = checkpointing.load_train_tree(double, step)
  leaves_a = jax.tree_util.tree_leaves_with_path(a)
  leaves_b = jax.tree_util.tree_leaves_with_path(b)
  assert [p for p, _ in leaves_a] == [p for p, _ in leaves_b]
  assert int(a["step"]) == int(b["step"]) == step
  return {jax.tree_util.keystr(p): np.abs(np.asarray(y, np.float64)
                                          - np.asarray(x, np.float64))
          for (p, x), (_, y) in zip(leaves_a, leaves_b)}


@pytest.mark.parametrize("task", TASKS)
def test_state_after_one_step_matches(runs, task):
  """AdamW's moments hold the first gradient of the global batch."""
  for path, diff in _state_differences(runs, task, 1).items():
    assert diff.max() <= 1e-5, (path, diff.max())


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("step", [EVAL_STEP, 3])
def test_state_after_more_steps_matches_up_to_adam_rounding(runs, task, step):
  """The two runs' gradients differ by float rounding (another summation
  order); AdamW turns a rounding-level gradient into a step of about +-lr, so
  a few elements drift apart, by at most 2 x the summed learning rate
  (Video K-Net at step 3: 645 of 921,799 over 1e-5, at most 1.7e-4 for an lr
  sum of 6e-4). Another batch would move nearly every element by about lr."""
  lr_sum = sum(lr for s, lr in _logged(runs[0][task][0], "learning_rate").items()
               if s <= step)
  diffs = _state_differences(runs, task, step)
  over = sum(int((d > 1e-5).sum()) for d in diffs.values())
  total = sum(d.size for d in diffs.values())
  assert over <= 0.01 * total, (over, total)
  for path, diff in diffs.items():
    assert diff.max() <= 2 * lr_sum, (path, diff.max(), lr_sum)


def test_every_task_resumes_from_its_joint_checkpoint(runs):
  workdirs, first, again = runs
  for log in first:
    assert log.count(f"Training done: step {EVAL_STEP}") == len(TASKS)
  for task in TASKS:
    double = workdirs[task][1]
    for log in again:
      assert (f"Resumed from {os.path.join(double, 'checkpoints')} at step "
              f"{EVAL_STEP}.") in log
    assert {str(EVAL_STEP), "3"} <= set(
        os.listdir(os.path.join(double, "checkpoints")))


def test_evaluation_is_written_once_with_the_reference_numbers(runs):
  workdirs, first, _ = runs
  single, double = workdirs[EVALUATED]
  written = [log.count(f"eval at step {EVAL_STEP} (written to") for log in first]
  scored = [log.count(f"eval at step {EVAL_STEP} (process 1: scored, not "
                      "written)") for log in first]
  assert written == [1, 0] and scored == [0, 1]
  assert os.listdir(os.path.join(double, "eval")) == [f"step_{EVAL_STEP}"]
  out = os.path.join(double, "eval", f"step_{EVAL_STEP}")
  assert os.listdir(out) == [driver.METRICS_FILE]
  with open(os.path.join(out, driver.METRICS_FILE)) as f:
    metrics = json.load(f)
  with open(os.path.join(single, "eval", f"step_{EVAL_STEP}",
                         driver.METRICS_FILE)) as f:
    reference = json.load(f)
  assert metrics["num_frames"] == reference["num_frames"] > 0
  for key in ("STQ", "AQ", "SQ", "VPQ", "PQ"):
    assert metrics[key] == pytest.approx(reference[key], abs=1e-6, nan_ok=True), key
