"""train.py survives SIGKILL anywhere, and exits promptly when done.

One uninterrupted child run is the reference; another workdir is killed with
SIGKILL while a checkpoint is being written, during evaluation and between
steps, and the same command is rerun each time. The last run must end with
parameters and optimizer state bit-identical to the reference.
"""
import os
import random
import time

import numpy as np
import orbax.checkpoint as ocp
import jax
import pytest

from tests.train_process import Child
from video_knet_jax import checkpointing

pytestmark = pytest.mark.slow

NUM_STEPS = 8


def _train_args(workdir, data_dir):
  return ["train.py", "--config=configs/synthetic_step.py:debug",
          f"--workdir={workdir}", f"--config.data.data_dir={data_dir}",
          f"--config.train.num_steps={NUM_STEPS}",
          "--config.train.checkpoint_every_steps=2",
          "--config.train.eval_every_steps=4",
          "--config.train.log_every_steps=1", "--logtostderr"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir):
  """The uninterrupted run (it also generates the data set)."""
  workdir = str(tmp_path_factory.mktemp("reference"))
  child = Child(_train_args(workdir, data_dir))
  assert child.wait() == 0, child.log()
  return workdir, child


def _final_state(workdir):
  path = checkpointing.find_train_checkpoint(workdir)
  assert path.endswith(os.path.join("checkpoints", str(NUM_STEPS), "state")), path
  return ocp.StandardCheckpointer().restore(path)


def _writing(checkpoint_dir):
  """Whether an asynchronous checkpoint write is in flight (Orbax tmp dir)."""
  try:
    return any("tmp" in name for name in os.listdir(checkpoint_dir))
  except FileNotFoundError:
    return False


def test_sigkill_anywhere_then_the_same_command_ends_bit_identical(
    reference, data_dir, tmp_path):
  rng = random.Random()
  seed = rng.randrange(1 << 30)
  rng.seed(seed)
  workdir = str(tmp_path / "killed")
  checkpoint_dir = os.path.join(workdir, "checkpoints")
  args = _train_args(workdir, data_dir)
  notes = [f"random seed {seed}"]

  # 1. While the first checkpoint is being written (asynchronously).
  child = Child(args)
  child.wait_until(lambda: _writing(checkpoint_dir), timeout=600)
  child.kill()
  notes.append(f"kill 1 with tmp dir: {_writing(checkpoint_dir)}")

  # 2. During evaluation (its output directory exists, metrics not yet out).
  child = Child(args)
  eval_dir = os.path.join(workdir, "eval", "step_4")
  child.wait_until(lambda: os.path.isdir(eval_dir), timeout=600)
  time.sleep(rng.uniform(0.0, 1.0))
  child.kill()
  notes.append("kill 2 after eval started; eval done: "
               f"{child.first_time('eval at step 4') is not None}")

  # 3. Between steps: 0-0.3 s after a step that is not a checkpoint step.
  child = Child(args)
  child.wait_until(lambda: child.first_time(f"step 5/{NUM_STEPS}"), timeout=600)
  time.sleep(rng.uniform(0.0, 0.3))
  child.kill()

  # 4. The same command once more, to the end.
  child = Child(args)
  assert child.wait() == 0, child.log()
  assert "Resumed from" in child.log(10**6), notes
  assert not _writing(checkpoint_dir), os.listdir(checkpoint_dir)

  want, got = _final_state(reference[0]), _final_state(workdir)
  want_leaves = jax.tree_util.tree_flatten_with_path(want)[0]
  got_leaves = jax.tree_util.tree_flatten_with_path(got)[0]
  assert [p for p, _ in want_leaves] == [p for p, _ in got_leaves]
  for (path, a), (_, b) in zip(want_leaves, got_leaves):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b),
                                  err_msg=f"{jax.tree_util.keystr(path)} {notes}")
  assert int(got["step"]) == NUM_STEPS
  assert len(want_leaves) > 100  # params, batch_stats and Adam moments.


def test_exits_within_seconds_of_the_final_checkpoint(reference):
  _, child = reference
  done = child.first_time(f"Training done: step {NUM_STEPS}")
  assert done is not None, child.log()
  gap = child.exit_time - done
  # The tf.data iterator's teardown used to hold the exit for 4-63 s, and
  # the interpreter's last garbage collection up to 13 s on a busy machine.
  assert gap < 10.0, f"process exited {gap:.1f} s after its last checkpoint"
