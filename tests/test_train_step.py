"""The sharded train step: equal to one device, and it learns."""

import jax
import numpy as np
import pytest

from video_knet_jax.configs import synthetic_step

from video_knet_jax import random_batch  # pylint: disable=wrong-import-position
from video_knet_jax import sharding  # pylint: disable=wrong-import-position
from video_knet_jax import train  # pylint: disable=wrong-import-position
from video_knet_jax.models import video_knet  # pylint: disable=wrong-import-position

HEIGHT, WIDTH, BATCH = 64, 96, 8


def _tiny_config():
  config = synthetic_step.get_config("debug")
  config.data.crop_size = (HEIGHT, WIDTH)
  config.train.batch_size = BATCH
  config.model.num_stages = 1
  config.loss.stage_weights = (1.0,)
  config.optim.warmup_steps = 0
  config.optim.lr = 1e-3
  return config


def _run(config, mesh, batch, steps):
  model = video_knet.build_model(config)
  state, tx, state_sharding = train.create_train_state(
      config, model, mesh, jax.random.key(0))
  step_fn = train.jit_train_step(
      train.make_train_step(config, model, tx), state_sharding, mesh)
  device_batch = sharding.put_batch(batch, mesh)
  losses = []
  for _ in range(steps):
    state, measurements = step_fn(state, device_batch)
    losses.append(float(measurements["loss"]))
  return state, losses


@pytest.fixture(scope="module")
def single_device_run():
  config = _tiny_config()
  batch = random_batch.random_clip_batch(config, BATCH, HEIGHT, WIDTH)
  mesh = sharding.make_mesh(config.mesh, devices=jax.devices()[:1])
  state, losses = _run(config, mesh, batch, steps=120)
  return config, batch, state, losses


def test_eight_device_step_equals_single_device_step(single_device_run):
  config, batch, _, _ = single_device_run
  # The recipe's learning rate. Adam's first step is lr * g / (|g| + eps):
  # for gradients near eps, summation-order noise in g is amplified by
  # lr / eps, so the 1e-5 check uses lr 1e-4 (not the overfit test's 1e-3).
  config.optim.lr = 1e-4
  assert jax.device_count() == 8
  mesh1 = sharding.make_mesh(config.mesh, devices=jax.devices()[:1])
  mesh8 = sharding.make_mesh(config.mesh)
  state1, losses1 = _run(config, mesh1, batch, steps=1)
  state8, losses8 = _run(config, mesh8, batch, steps=1)
  np.testing.assert_allclose(losses8[0], losses1[0], rtol=1e-5, atol=1e-5)
  flat1 = jax.tree.leaves(jax.device_get(state1.params))
  flat8 = jax.tree.leaves(jax.device_get(state8.params))
  assert len(flat1) == len(flat8)
  for a, b in zip(flat1, flat8):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_tiny_model_overfits_a_fixed_batch(single_device_run):
  _, _, state, losses = single_device_run
  assert int(state.step) == 120
  assert np.all(np.isfinite(losses))
  assert losses[-1] <= 0.2 * losses[0], losses
