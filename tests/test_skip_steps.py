"""config.train.max_skipped_steps: a non-finite step's update is skipped."""
import logging

import jax
import numpy as np
import pytest

from video_knet_jax.configs import synthetic_step

from video_knet_jax import common  # pylint: disable=wrong-import-position
from video_knet_jax import random_batch  # pylint: disable=wrong-import-position
from video_knet_jax import sharding  # pylint: disable=wrong-import-position
from video_knet_jax import train as train_lib  # pylint: disable=wrong-import-position
from video_knet_jax import train_lib as loop  # pylint: disable=wrong-import-position
from video_knet_jax.models import video_knet  # pylint: disable=wrong-import-position


def test_nonfinite_step_keeps_the_state_and_the_next_step_trains():
  config = synthetic_step.get_config("debug")
  config.data.crop_size = (32, 64)
  config.train.batch_size = 1
  config.model.num_stages = 1
  config.loss.stage_weights = (1.0,)
  config.optim.warmup_steps = 0
  config.train.max_skipped_steps = 2
  mesh = sharding.make_mesh(config.mesh, devices=jax.devices()[:1])
  model = video_knet.build_model(config)
  state, tx, state_sharding = train_lib.create_train_state(
      config, model, mesh, jax.random.key(0))
  step_fn = train_lib.jit_train_step(
      train_lib.make_train_step(config, model, tx), state_sharding, mesh)
  good = random_batch.random_clip_batch(config, 1, 32, 64)
  bad = dict(good)
  bad[common.IMAGE] = good[common.IMAGE].copy()
  bad[common.IMAGE][0, 0, 5, 7] = np.nan   # [B, T, H, W, 3]

  state, m = step_fn(state, sharding.put_batch(good, mesh))
  assert int(m["skipped"]) == 0 and np.isfinite(float(m["loss"]))
  before = jax.device_get((state.params, state.batch_stats, state.opt_state))
  state, m = step_fn(state, sharding.put_batch(bad, mesh))
  assert int(m["skipped"]) == 1 and not np.isfinite(float(m["loss"]))
  assert int(state.step) == 2   # counted, so data and schedule stay aligned.
  after = jax.device_get((state.params, state.batch_stats, state.opt_state))
  jax.tree.map(np.testing.assert_array_equal, after, before)
  state, m = step_fn(state, sharding.put_batch(good, mesh))
  assert int(m["skipped"]) == 0
  moved = jax.device_get(state.params)
  assert any(not np.array_equal(a, b) for a, b in
             zip(jax.tree.leaves(moved), jax.tree.leaves(before[0])))


def test_skips_are_counted_logged_and_capped(caplog):
  check = loop._FiniteCheck(max_skipped=2)  # pylint: disable=protected-access
  ok = {"loss": np.float32(1.0), "grad_norm": np.float32(1.0), "skipped": 0}
  bad = {"loss": np.float32("nan"), "grad_norm": np.float32("nan"),
         "s0_loss_dice": np.float32(0.5), "skipped": 1}
  with caplog.at_level(logging.WARNING):
    check(1, ok)
    check(2, bad)
    check(3, bad)
  assert check.skipped == 2
  assert [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()
          ] == ["Step 2 skipped (1 of at most 2): non-finite ['grad_norm', 'loss'].",
                "Step 3 skipped (2 of at most 2): non-finite ['grad_norm', 'loss']."]
  with pytest.raises(FloatingPointError, match=r"step 4 .*skip number 3, over "
                     r"config.train.max_skipped_steps=2"):
    check(4, bad)


def test_without_skipping_a_nonfinite_gradient_stops_the_run():
  check = loop._FiniteCheck(max_skipped=0)  # pylint: disable=protected-access
  with pytest.raises(FloatingPointError, match=r"at step 9 .*\['grad_norm'\]"):
    check(9, {"loss": np.float32(2.0), "grad_norm": np.float32("inf")})
