"""bfloat16 compute learns like float32: the tiny model overfits a fixed batch."""
import jax
import numpy as np

from tests import test_train_step
from video_knet_jax import random_batch
from video_knet_jax import sharding


def test_tiny_bf16_model_overfits_a_fixed_batch():
  config = test_train_step._tiny_config()  # pylint: disable=protected-access
  config.model.dtype = "bfloat16"
  batch = random_batch.random_clip_batch(config, test_train_step.BATCH, test_train_step.HEIGHT,
                                         test_train_step.WIDTH)
  mesh = sharding.make_mesh(config.mesh, devices=jax.devices()[:1])
  state, losses = test_train_step._run(config, mesh, batch, steps=120)  # pylint: disable=protected-access
  # Parameters and optimizer state stay float32.
  assert {x.dtype for x in jax.tree.leaves(state.params)} == {np.dtype(np.float32)}
  assert {x.dtype for x in jax.tree.leaves(state.opt_state)
          if np.issubdtype(x.dtype, np.floating)} == {np.dtype(np.float32)}
  assert np.all(np.isfinite(losses))
  assert losses[-1] <= 0.2 * losses[0], losses   # the float32 test's bound.
