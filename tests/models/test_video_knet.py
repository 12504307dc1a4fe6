"""The whole model on the :debug config: shapes, init, clip forward, finiteness."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from video_knet_jax.configs import kitti_step

from tests.models import np_reference as ref  # pylint: disable=wrong-import-position
from video_knet_jax import common  # pylint: disable=wrong-import-position
from video_knet_jax.models import kernel_head  # pylint: disable=wrong-import-position
from video_knet_jax.models import kernel_update_head  # pylint: disable=wrong-import-position
from video_knet_jax.models import video_knet  # pylint: disable=wrong-import-position

B, T, H, W = 2, 2, 64, 192


@pytest.fixture(scope="module")
def debug():
  """The :debug model with numpy-random variables (a jitted init costs ~25 s of compile)."""
  config = kitti_step.get_config("debug")
  model = video_knet.build_model(config)
  variables = ref.random_variables(model, jnp.zeros((1, 64, 64, 3)), std=0.1)
  clip = jnp.asarray(np.random.RandomState(0).randn(B, T, H, W, 3), jnp.float32)
  return config, model, variables, clip


def _expected_shapes(m, b=B):
  n = m.num_proposals + m.num_stuff_classes
  c = m.num_thing_classes + m.num_stuff_classes
  h, w = H // 8, W // 8
  return {
      common.RPN_MASK_LOGITS: (b, m.num_proposals, h, w),
      common.RPN_SEG_LOGITS: (b, c, h, w),
      common.STAGE_MASK_LOGITS: (m.num_stages, b, n, h, w),
      common.STAGE_CLS_LOGITS: (m.num_stages, b, n, c),
      common.MASK_LOGITS: (b, n, h, w),
      common.CLS_LOGITS: (b, n, c),
      common.KERNELS: (b, n, m.feat_channels),
      common.TRACK_KERNELS: (b, n, m.feat_channels),
      common.TRACK_EMBEDDINGS: (b, m.num_proposals, m.temporal.embed_channels),
  }


def test_output_shapes_debug_config():
  config = kitti_step.get_config("debug")
  model = video_knet.build_model(config)
  images = jax.ShapeDtypeStruct((B, H, W, 3), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), images)
  out = jax.eval_shape(model.apply, variables, images)
  assert {k: v.shape for k, v in out.items()} == _expected_shapes(config.model)
  prev = jax.ShapeDtypeStruct(out[common.KERNELS].shape, jnp.float32)
  out = jax.eval_shape(model.apply, variables, images, prev)
  assert {k: v.shape for k, v in out.items()} == _expected_shapes(config.model)
  assert all(v.dtype == jnp.float32 for v in out.values())
  # bfloat16 compute keeps float32 params and outputs.
  config.model.dtype = "bfloat16"
  model16 = video_knet.build_model(config)
  variables16 = jax.eval_shape(model16.init, jax.random.key(0), images)
  assert all(v.dtype == jnp.float32 for v in jax.tree_util.tree_leaves(variables16))
  out16 = jax.eval_shape(model16.apply, variables16, images)
  assert {k: v.shape for k, v in out16.items()} == _expected_shapes(config.model)


def test_bad_inputs_are_rejected():
  config = kitti_step.get_config("debug")
  model = video_knet.build_model(config)
  with pytest.raises(ValueError, match="multiples of 32"):
    jax.eval_shape(model.init, jax.random.key(0), jax.ShapeDtypeStruct((1, 48, 64, 3),
                                                                       jnp.float32))
  config.model.dtype = "float64"
  with pytest.raises(ValueError, match="config.model.dtype"):
    jax.eval_shape(video_knet.build_model(config).init, jax.random.key(0),
                   jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32))


def test_initialisation_follows_the_original():
  """Section 4.1 inits, checked on small heads (the full init only differs in sizes)."""
  feats = [jnp.zeros((1, 8, 8, 32)), jnp.zeros((1, 4, 4, 32))]
  head = kernel_head.ConvKernelHead(num_proposals=64, num_classes=5, num_thing_classes=2,
                                    feat_channels=32, num_groups=4, upsample_times=1,
                                    pe_num_feats=16)
  x_feats = jnp.zeros((1, 4, 4, 32))
  kernels = jnp.zeros((1, 6, 32))
  masks = jnp.zeros((1, 6, 4, 4))
  stage = kernel_update_head.KernelUpdateHead(num_classes=5, num_heads=4, ffn_channels=64)

  def init(rng):
    return (head.init(rng, feats)["params"],
            stage.init(rng, x_feats, kernels, masks)["params"])

  head_p, stage_p = jax.jit(init)(jax.random.key(0))
  kernel_std = float(jnp.std(head_p["init_kernels"]["kernel"]))
  assert 0.85 < kernel_std < 1.15                                           # N(0, 1)
  assert "bias" not in head_p["init_kernels"]
  assert 0.007 < float(jnp.std(head_p["conv_seg"]["kernel"])) < 0.013      # N(0, 0.01)
  np.testing.assert_array_equal(np.asarray(head_p["conv_seg"]["bias"]), 0.0)
  conv = head_p["localization_fpn"]["convs_all_levels"]["0"]["conv0"]["conv"]["kernel"]
  assert 0.008 < float(jnp.std(conv)) < 0.012                              # N(0, 0.01)
  np.testing.assert_allclose(np.asarray(stage_p["fc_cls"]["bias"]), -np.log(99.0), rtol=1e-6)
  fc = stage_p["kernel_update_conv"]["fc_layer"]["kernel"]                  # xavier_uniform
  assert float(jnp.abs(fc).max()) <= np.sqrt(6 / 64) + 1e-6
  assert float(jnp.abs(fc).max()) > 0.8 * np.sqrt(6 / 64)


def test_clip_forward_matches_per_frame_apply(debug):
  config, model, variables, clip = debug
  frames = jax.jit(lambda v, c: video_knet.clip_forward(model, v, c, train=True))(
      variables, clip)
  assert len(frames) == T
  for out in frames:
    assert {k: v.shape for k, v in out.items()} == _expected_shapes(config.model)
    for k, v in out.items():
      assert np.isfinite(np.asarray(v)).all(), k
  ref_out, key_out = frames[1], frames[0]
  np.testing.assert_array_equal(np.asarray(ref_out[common.TRACK_KERNELS]),
                                np.asarray(ref_out[common.KERNELS]))
  # One compiled per-frame apply (2 x 64 x 192, with previous kernels) checks both frames:
  # linking only touches the tracking outputs, so the reference frame's other outputs
  # must equal an apply with any previous kernels.
  apply = jax.jit(model.apply)
  linked_ref = apply(variables, clip[:, 1], jnp.zeros_like(ref_out[common.KERNELS]))
  for k, v in linked_ref.items():
    assert np.isfinite(np.asarray(v)).all(), k
    if k not in (common.TRACK_KERNELS, common.TRACK_EMBEDDINGS):
      np.testing.assert_allclose(np.asarray(ref_out[k]), np.asarray(v), rtol=1e-4, atol=1e-4,
                                 err_msg=k)
  key = apply(variables, clip[:, 0], ref_out[common.KERNELS])
  for k, v in key.items():
    np.testing.assert_allclose(np.asarray(key_out[k]), np.asarray(v), rtol=1e-4, atol=1e-4,
                               err_msg=k)
  # The key frame is linked to the reference: track kernels differ from its own kernels.
  assert np.abs(np.asarray(key[common.TRACK_KERNELS] - key[common.KERNELS])).max() > 1e-3



def test_image_knet_mode_is_the_video_model_without_temporal_layers(debug):
  config, model, variables, clip = debug
  image_config = kitti_step.get_config("debug")
  image_config.model.temporal.enabled = False
  image_model = video_knet.build_model(image_config)
  images = clip[:, 0]
  abstract = jax.eval_shape(image_model.init, jax.random.key(0), images)
  # Its variables are the video model's minus the tracking embedding and link layers.
  flat_video = dict(jax.tree_util.tree_flatten_with_path(variables)[0])
  image_vars = jax.tree_util.tree_map_with_path(lambda p, s: flat_video[p], abstract)
  out = image_model.apply(image_vars, images)
  expected = model.apply(variables, images)
  assert common.TRACK_EMBEDDINGS not in out
  for key in (common.MASK_LOGITS, common.CLS_LOGITS, common.KERNELS):
    np.testing.assert_array_equal(out[key], expected[key])
  np.testing.assert_array_equal(out[common.TRACK_KERNELS], out[common.KERNELS])
  with pytest.raises(ValueError, match="image K-Net"):
    image_model.apply(image_vars, images, out[common.KERNELS])
  with pytest.raises(ValueError, match="temporal.enabled"):
    video_knet.clip_forward(image_model, image_vars, clip)
