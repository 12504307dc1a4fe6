"""The training loop fetches measurements only when it logs, saves or
evaluates, and still stops on a non-finite step before it is checkpointed."""
import os

import numpy as np
import pytest

from video_knet_jax.configs import synthetic_step

from video_knet_jax import common  # pylint: disable=wrong-import-position
from video_knet_jax import random_batch  # pylint: disable=wrong-import-position
from video_knet_jax import sharding  # pylint: disable=wrong-import-position
from video_knet_jax import train_lib  # pylint: disable=wrong-import-position
from video_knet_jax.data import input_pipeline  # pylint: disable=wrong-import-position
from video_knet_jax.data import prepare  # pylint: disable=wrong-import-position


def _config(num_steps):
  config = synthetic_step.get_config("debug")
  config.data.crop_size = (32, 64)
  config.train.batch_size = 8
  config.model.num_stages = 1
  config.loss.stage_weights = (1.0,)
  config.optim.warmup_steps = 0
  config.train.num_steps = num_steps
  config.train.log_every_steps = 4
  config.train.checkpoint_every_steps = 3
  config.train.eval_every_steps = 0
  return config


def _random_batches(nan_at_step=None):
  """Stands in for the input pipeline: random clips, NaN pixels at one step."""
  def make(config, mesh, *, start_step=0):
    step = start_step
    while True:
      step += 1
      batch = random_batch.random_clip_batch(config, 8, 32, 64, seed=step)
      if step == nan_at_step:
        batch[common.IMAGE] = batch[common.IMAGE].copy()
        batch[common.IMAGE][0, 0, 3, 4] = np.nan
      yield sharding.put_batch(batch, mesh)
  return make


def _patch(monkeypatch, nan_at_step=None):
  fetches = []
  real = train_lib.fetch_measurements
  def recording(pending):
    fetches.append([step for step, _ in pending])
    return real(pending)
  monkeypatch.setattr(prepare, "ensure_dataset", lambda config: None)
  monkeypatch.setattr(input_pipeline, "make_train_iterator",
                      _random_batches(nan_at_step))
  monkeypatch.setattr(train_lib, "fetch_measurements", recording)
  return fetches


def test_measurements_are_fetched_only_to_log_save_or_finish(monkeypatch, tmp_path):
  fetches = _patch(monkeypatch)
  last = train_lib.train_and_evaluate(_config(7), str(tmp_path))
  # log every 4, checkpoint every 3, and the last step: each step checked once.
  assert fetches == [[1, 2, 3], [4], [5, 6], [7]]
  assert np.isfinite(last[common.LOSS_TOTAL])
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["3", "6", "7"]


def test_a_nonfinite_step_stops_the_run_before_its_checkpoint(monkeypatch, tmp_path):
  fetches = _patch(monkeypatch, nan_at_step=2)
  with pytest.raises(FloatingPointError, match=r"at step 2 "):
    train_lib.train_and_evaluate(_config(7), str(tmp_path))
  assert fetches == [[1, 2, 3]]
  assert not os.path.exists(tmp_path / "checkpoints" / "3")


def test_the_skip_count_carries_over_a_resume(monkeypatch, tmp_path):
  config = _config(4)
  config.train.max_skipped_steps = 1
  _patch(monkeypatch, nan_at_step=2)
  last = train_lib.train_and_evaluate(config, str(tmp_path))
  assert last["skipped_steps"] == 1
  config.train.num_steps = 7
  _patch(monkeypatch, nan_at_step=5)   # the second skip of the run: one too many.
  with pytest.raises(FloatingPointError, match=r"step 5 .*skip number 2, over "
                     r"config.train.max_skipped_steps=1"):
    train_lib.train_and_evaluate(config, str(tmp_path))
