"""The train step on device arrays makes no host round trip (transfer guard),
here with compact labels, so the on-device target building runs too."""

import jax
import numpy as np

from video_knet_jax.configs import synthetic_step

from video_knet_jax.datasets.kitti_step import facts  # pylint: disable=wrong-import-position
from video_knet_jax import random_batch  # pylint: disable=wrong-import-position
from video_knet_jax import sharding  # pylint: disable=wrong-import-position
from video_knet_jax import train as train_lib  # pylint: disable=wrong-import-position
from video_knet_jax.models import video_knet  # pylint: disable=wrong-import-position


def test_steps_on_compact_labels_stay_on_device():
  config = synthetic_step.get_config("debug")
  config.data.crop_size = (64, 96)
  config.data.targets_on_device = True
  config.train.batch_size = 2
  config.model.num_stages = 1
  config.loss.stage_weights = (1.0,)
  mesh = sharding.make_mesh(config.mesh, devices=jax.devices()[:2])
  model = video_knet.build_model(config)
  state, tx, state_sharding = train_lib.create_train_state(
      config, model, mesh, jax.random.key(0))
  step_fn = train_lib.jit_train_step(
      train_lib.make_train_step(config, model, tx), state_sharding, mesh)
  batch = random_batch.compact_labels(
      random_batch.random_clip_batch(config, 2, 64, 96), facts.PANOPTIC_DIVISOR)
  batch = sharding.put_batch(batch, mesh)     # explicit transfer, allowed.
  step_fn.lower(state, batch).compile()
  with jax.transfer_guard("disallow"):
    for _ in range(2):
      state, measurements = step_fn(state, batch)
  values = jax.device_get(measurements)       # explicit: the logging fetch.
  assert int(jax.device_get(state.step)) == 2
  assert np.isfinite(values["loss"]) and values["loss"] > 0
