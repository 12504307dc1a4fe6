"""Checkpoints that cannot be read back are set aside, never half-loaded."""
import glob
import logging
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from video_knet_jax import checkpointing


def _state(scale):
  return {"params": {"w": jnp.arange(20000, dtype=jnp.float32) * scale},
          "opt_state": [jnp.full((30, 40), scale, jnp.float32)],
          "step": jnp.asarray(scale, jnp.int32)}


def _abstract(state):
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)


def _save_steps(workdir, steps):
  checkpointer = checkpointing.TrainCheckpointer(workdir, save_every_steps=1)
  for step in steps:
    checkpointer.save(step, _state(step), meta={"step": step})
  checkpointer.close()


def _largest_file(directory, pattern):
  files = [f for f in glob.glob(os.path.join(directory, "**", "*"), recursive=True)
           if os.path.isfile(f) and f.endswith(pattern)]
  return max(files, key=os.path.getsize)


# The largest array file, the tree metadata, the root OCDBT manifest.
@pytest.mark.parametrize("torn_file", ["", "state/_METADATA", "state/manifest.ocdbt"])
def test_torn_latest_checkpoint_is_set_aside_and_the_previous_used(
    tmp_path, caplog, torn_file):
  workdir = str(tmp_path)
  _save_steps(workdir, [1, 2])
  latest = os.path.join(workdir, "checkpoints", "2")
  torn = (os.path.join(latest, torn_file) if torn_file
          else _largest_file(latest, ""))
  with open(torn, "r+b") as f:
    f.truncate(os.path.getsize(torn) // 2)

  checkpointer = checkpointing.TrainCheckpointer(workdir, save_every_steps=1)
  with caplog.at_level(logging.WARNING):
    state, meta, step = checkpointer.restore_latest_intact(_abstract(_state(1)))
  assert step == 1 and meta == {"step": 1}
  jax.tree.map(np.testing.assert_array_equal, state, _state(1))
  assert any(latest in r.getMessage() and "cannot be read back" in r.getMessage()
             for r in caplog.records), [r.getMessage() for r in caplog.records]
  # Kept for inspection, out of the manager's sight; step 2 can be saved again.
  assert os.path.isdir(os.path.join(workdir, "checkpoints_damaged", "2"))
  assert checkpointer.all_steps() == [1]
  checkpointer.save(2, _state(5))
  checkpointer.close()
  again = checkpointing.TrainCheckpointer(workdir, save_every_steps=1)
  state, _, step = again.restore_latest_intact(_abstract(_state(1)))
  assert step == 2 and float(state["opt_state"][0][0, 0]) == 5.0
  again.close()


def test_checkpoint_of_another_model_is_a_named_error_and_nothing_moves(tmp_path):
  workdir = str(tmp_path)
  _save_steps(workdir, [1, 2])
  other = _state(1)
  other["params"]["w"] = jnp.zeros((7,), jnp.float32)
  other["params"]["extra"] = jnp.zeros((2,), jnp.float32)
  checkpointer = checkpointing.TrainCheckpointer(workdir, save_every_steps=1)
  with pytest.raises(checkpointing.CheckpointMismatchError,
                     match=r"checkpoints/2: .*1 arrays of the model not in the "
                     r"checkpoint .*params/extra.*params/w: \(20000,\) in the "
                     r"checkpoint, \(7,\) in the model"):
    checkpointer.restore_latest_intact(_abstract(other))
  assert checkpointer.all_steps() == [1, 2]
  assert not os.path.exists(os.path.join(workdir, "checkpoints_damaged"))
  checkpointer.close()


def test_no_checkpoint_restores_nothing(tmp_path):
  checkpointer = checkpointing.TrainCheckpointer(str(tmp_path), save_every_steps=1)
  assert checkpointer.restore_latest_intact(_abstract(_state(1))) is None
  checkpointer.close()


def test_saves_only_at_the_interval_and_when_forced(tmp_path):
  """No extra save at the first step (Orbax's default policy adds one)."""
  checkpointer = checkpointing.TrainCheckpointer(str(tmp_path), save_every_steps=3)
  started = [step for step in range(1, 8)
             if checkpointer.save(step, _state(step), force=step == 7)]
  checkpointer.close()
  assert started == [3, 6, 7]
  assert checkpointing.TrainCheckpointer(
      str(tmp_path), save_every_steps=3).all_steps() == [3, 6, 7]
