"""train.py survives SIGKILL, for every task, and exits promptly when done.

For each task's ':debug' config (the golden digest's 4 steps on one device,
a checkpoint every step) a child train.py is killed with SIGKILL at a point
drawn at random (the draw is printed on failure): while a checkpoint is
being written asynchronously, or between steps. The same command is then
run to the end; its final parameters, batch statistics and optimizer state
must be bit-identical to the uninterrupted run recorded in
tests/golden_digests.json (tests/test_golden_digest.py checks that record).
"""
import json
import os
import random
import time

import pytest

from tests import golden_digest
from tests.train_process import Child
from video_knet_jax import checkpointing

pytestmark = pytest.mark.slow

NUM_STEPS = golden_digest.NUM_STEPS
CONFIGS = {"panoptic": "synthetic_step", "semantic": "vspw",
           "instance": "youtube_vis"}
with open(os.path.join(os.path.dirname(__file__), "golden_digests.json")) as f:
  GOLDEN = json.load(f)


def _train_args(name, workdir, data_dir):
  return ["train.py", f"--config=configs/{name}.py:debug",
          f"--workdir={workdir}", f"--config.data.data_dir={data_dir}",
          f"--config.train.num_steps={NUM_STEPS}",
          "--config.train.checkpoint_every_steps=1",
          f"--config.train.keep_checkpoints={NUM_STEPS}",
          "--config.train.eval_every_steps=0",
          "--config.train.log_every_steps=1", "--logtostderr"]


def _writing(checkpoint_dir):
  """Whether an asynchronous checkpoint write is in flight (Orbax tmp dir)."""
  try:
    return any("tmp" in name for name in os.listdir(checkpoint_dir))
  except FileNotFoundError:
    return False


@pytest.mark.parametrize("task", sorted(CONFIGS))
def test_sigkill_then_the_same_command_ends_bit_identical_and_exits_promptly(
    task, tmp_path):
  name = CONFIGS[task]
  rng = random.Random()
  seed = rng.randrange(1 << 30)
  rng.seed(seed)
  workdir = str(tmp_path / "killed")
  checkpoint_dir = os.path.join(workdir, checkpointing.CHECKPOINT_SUBDIR)
  args = _train_args(name, workdir, str(tmp_path / "tfds"))
  child = Child(args)
  if rng.random() < 0.5:
    point = "while a checkpoint is written"
    child.wait_until(lambda: _writing(checkpoint_dir), timeout=600)
  else:
    at = rng.randrange(1, NUM_STEPS)
    point = f"0-0.3 s after step {at}"
    child.wait_until(lambda: child.first_time(f"step {at}/{NUM_STEPS}"),
                     timeout=600)
    time.sleep(rng.uniform(0.0, 0.3))
  child.kill()
  notes = f"seed {seed}: killed {point}"

  child = Child(args)   # the same command, to the end.
  assert child.wait() == 0, child.log()
  assert not _writing(checkpoint_dir), os.listdir(checkpoint_dir)
  tree = checkpointing.load_train_tree(workdir)
  assert int(tree["step"]) == NUM_STEPS
  want = GOLDEN[name]["steps"][-1]
  got = {key: golden_digest.tree_digest(tree.get(key, {}))
         for key in ("params", "batch_stats", "opt_state")}
  assert got == {key: want[key] for key in got}, notes
  # The tf.data iterator's teardown used to hold the exit for 4-63 s, and
  # the interpreter's last garbage collection up to 13 s on a busy machine.
  done = child.first_time(f"Training done: step {NUM_STEPS}")
  assert done is not None, child.log()
  assert child.exit_time - done < 10.0, (
      f"process exited {child.exit_time - done:.1f} s after its last checkpoint")
