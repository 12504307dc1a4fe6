"""ResNet: strides/widths, frozen BatchNorm statistics and the frozen-param filter."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from video_knet_jax.configs import kitti_step

from tests.models import np_reference as ref  # pylint: disable=wrong-import-position
from video_knet_jax.models import resnet  # pylint: disable=wrong-import-position

X = jnp.asarray(np.random.RandomState(0).randn(2, 64, 96, 3), jnp.float32)


def _tiny(**kw):
  return resnet.ResNet(stage_blocks=(1, 2, 1, 1), base_width=4, **kw)


def test_output_strides_channels_and_names():
  model = _tiny()
  shapes = jax.eval_shape(model.apply, jax.eval_shape(model.init, jax.random.key(0), X), X)
  assert [s.shape for s in shapes] == [(2, 16, 24, 16), (2, 8, 12, 32), (2, 4, 6, 64),
                                       (2, 2, 3, 128)]
  assert model.out_channels == (16, 32, 64, 128)
  params = jax.eval_shape(model.init, jax.random.key(0), X)["params"]
  assert sorted(params["layer2"]) == ["0", "1"]
  block = params["layer2"]["0"]
  assert sorted(block) == ["bn1", "bn2", "bn3", "conv1", "conv2", "conv3", "downsample"]
  assert block["conv2"]["kernel"].shape == (3, 3, 8, 8)
  assert block["downsample"]["0"]["kernel"].shape == (1, 1, 16, 32)
  assert sorted(block["downsample"]["1"]) == ["bias", "scale"]
  assert "downsample" not in params["layer2"]["1"]


def test_norm_eval_uses_running_statistics_in_training():
  model = _tiny(norm_eval=True)
  variables = ref.random_variables(model, X)
  # No mutable collection needed, and training == inference.
  train = jax.jit(lambda v, x: model.apply(v, x, train=True))(variables, X)
  test = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, X)
  for a, b in zip(train, test):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

  trainable = _tiny(norm_eval=False)
  out, updates = jax.jit(lambda v, x: trainable.apply(v, x, train=True,
                                                      mutable=["batch_stats"]))(variables, X)
  assert np.abs(np.asarray(out[-1]) - np.asarray(test[-1])).max() > 1e-3
  new_mean = updates["batch_stats"]["layer4"]["0"]["bn1"]["mean"]
  old_mean = variables["batch_stats"]["layer4"]["0"]["bn1"]["mean"]
  assert np.abs(np.asarray(new_mean) - old_mean).max() > 0


def test_frozen_param_filter():
  config = kitti_step.get_config()
  is_frozen = resnet.frozen_param_filter(config)
  assert is_frozen(("backbone", "conv1", "kernel"))
  assert is_frozen(("backbone", "bn1", "scale"))
  assert is_frozen("backbone/layer1/2/conv3/kernel")
  assert not is_frozen(("backbone", "layer2", "0", "conv1", "kernel"))
  assert not is_frozen(("neck", "lateral_convs", "0", "conv", "kernel"))
  assert not is_frozen(("rpn_head", "conv1"))
  # Works on jax key paths and with the model sub-config; -1 freezes nothing.
  path = jax.tree_util.tree_flatten_with_path({"backbone": {"conv1": {"kernel": 0}}})[0][0][0]
  assert resnet.frozen_param_filter(config.model)(path)
  config.model.backbone.frozen_stages = -1
  assert not resnet.frozen_param_filter(config)(("backbone", "conv1", "kernel"))
  config.model.backbone.frozen_stages = 3
  assert resnet.frozen_param_filter(config)(("backbone", "layer3", "0", "bn1", "bias"))


def test_unknown_backbone_is_rejected():
  config = kitti_step.get_config()
  config.model.backbone.name = "swin"
  with pytest.raises(ValueError, match="backbone.name"):
    resnet.build_resnet(config.model.backbone)
