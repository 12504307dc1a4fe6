"""Optimizer recipe: schedule values, frozen params, backbone lr multiplier."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from video_knet_jax.configs import kitti_step

from video_knet_jax import optim  # pylint: disable=wrong-import-position


def test_schedule_matches_mmcv_step_policy_with_linear_warmup():
  config = kitti_step.get_config()
  # 5027 frames x 2 repeats // batch 8 = 1256 steps per epoch.
  assert optim.steps_per_epoch(config) == 1256
  assert optim.decay_boundaries(config) == (9 * 1256, 11 * 1256)
  schedule = optim.learning_rate_schedule(config)
  # mmcv linear warmup: lr * (1 - (1 - t/1000) * (1 - 0.001)).
  np.testing.assert_allclose(schedule(0), 1e-4 * 0.001, rtol=1e-4)  # f32
  np.testing.assert_allclose(schedule(500), 1e-4 * (1 - 0.5 * 0.999), rtol=1e-6)
  np.testing.assert_allclose(schedule(1000), 1e-4, rtol=1e-6)
  np.testing.assert_allclose(schedule(9 * 1256 - 1), 1e-4, rtol=1e-6)
  np.testing.assert_allclose(schedule(9 * 1256), 1e-5, rtol=1e-6)
  np.testing.assert_allclose(schedule(11 * 1256), 1e-6, rtol=1e-5)


def test_cosine_policy_matches_mmcv_cosine_annealing_with_warmup():
  config = kitti_step.get_config()
  config.optim.policy = "cosine"
  config.optim.min_lr_ratio = 0.01
  config.train.num_steps = 4000
  config.optim.warmup_steps = 100
  schedule = optim.learning_rate_schedule(config)

  def mmcv_cosine(t):  # min + (base - min) * (1 + cos(pi t / T)) / 2
    return 1e-6 + (1e-4 - 1e-6) * (1 + np.cos(np.pi * t / 4000)) / 2

  # Warmup scales the (already annealed) rate, as for the step policy.
  np.testing.assert_allclose(schedule(50), mmcv_cosine(50) * (1 - 0.5 * 0.999), rtol=1e-5)
  for t in (100, 1000, 2000, 3999, 4000):
    np.testing.assert_allclose(schedule(t), mmcv_cosine(t), rtol=1e-5)


def test_unknown_schedule_policy_is_named():
  config = kitti_step.get_config()
  config.optim.policy = "cos"
  with pytest.raises(ValueError, match="config.optim.policy='cos'"):
    optim.learning_rate_schedule(config)


def test_frozen_params_do_not_move_and_backbone_lr_is_scaled():
  config = kitti_step.get_config()
  config.optim.warmup_steps = 0
  config.optim.weight_decay = 0.0
  params = {"backbone": {"conv1": {"kernel": jnp.ones(3)},
                         "layer2": {"kernel": jnp.ones(3)}},
            "neck": {"kernel": jnp.ones(3)}}
  tx = optim.make_optimizer(
      config, params, lambda path: path[:2] == ("backbone", "conv1"))
  state = tx.init(params)
  # A huge frozen gradient must neither move its param nor shrink the others
  # through the global-norm clip.
  grads = {"backbone": {"conv1": {"kernel": jnp.full(3, 1e6)},
                        "layer2": {"kernel": jnp.full(3, 0.1)}},
           "neck": {"kernel": jnp.full(3, 0.1)}}
  updates, _ = tx.update(grads, state, params)
  np.testing.assert_array_equal(updates["backbone"]["conv1"]["kernel"], 0.0)
  # First Adam step is -lr * sign(g) (bias-corrected), backbone x0.25.
  np.testing.assert_allclose(updates["neck"]["kernel"], -1e-4, rtol=1e-3)
  np.testing.assert_allclose(updates["backbone"]["layer2"]["kernel"], -0.25e-4,
                             rtol=1e-3)

