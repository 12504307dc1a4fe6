"""Swin backbone pieces against hand-computed cases; remat and drop path; full-size shapes."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from video_knet_jax.models import swin


def test_relative_position_index_window_2_by_hand():
  # Tokens (r, c): 0=(0,0) 1=(0,1) 2=(1,0) 3=(1,1); index = (dr + 1) * 3 + (dc + 1).
  np.testing.assert_array_equal(swin.relative_position_index(2),
                                [[4, 3, 1, 0], [5, 4, 2, 1], [7, 6, 4, 3], [8, 7, 5, 4]])
  assert swin.window_size_of_table(169) == 7


def test_shift_mask_separates_the_rolled_regions():
  # 4x4 map, window 2, shift 1: bands rows/cols [0,2) [2,3) [3,4).
  mask = swin.shift_attention_mask(4, 4, 2, 1)                # [4 windows, 4, 4]
  assert mask.shape == (4, 4, 4)
  np.testing.assert_array_equal(mask[0], 0.0)                # window (0, 0): one region.
  # Window (0, 1) covers cols 2, 3 = bands 1 and 2: tokens 0, 2 vs 1, 3.
  expected = np.where(np.array([0, 1, 0, 1])[:, None] == np.array([0, 1, 0, 1])[None], 0, -100)
  np.testing.assert_array_equal(mask[1], expected)
  # Window (1, 1): four different regions -> only the diagonal is unmasked.
  np.testing.assert_array_equal(mask[3], np.where(np.eye(4, dtype=bool), 0, -100))


def test_patch_merging_concatenates_in_the_original_order():
  x = jnp.arange(2 * 2 * 3, dtype=jnp.float32).reshape(1, 2, 2, 3)   # one 2x2 neighbourhood.
  module = swin.PatchMerging(3)
  variables = module.init(jax.random.key(0), x)
  # LN with unit scale, then a reduction that keeps the first 6 of the 12 channels.
  params = {"norm": {"scale": jnp.ones(12), "bias": jnp.zeros(12)},
            "reduction": {"kernel": jnp.eye(12, 6)}}
  assert jax.tree.map(jnp.shape, variables["params"]) == jax.tree.map(jnp.shape, params)
  out = module.apply({"params": params}, x)
  concat = np.concatenate([x[0, 0, 0], x[0, 1, 0], x[0, 0, 1], x[0, 1, 1]])  # (ee, oe, eo, oo)
  normed = (concat - concat.mean()) / np.sqrt(concat.var() + 1e-5)
  np.testing.assert_allclose(out[0, 0, 0], normed[:6], rtol=1e-5, atol=1e-5)


def _tiny(**kw):
  return swin.SwinTransformer(embed_dims=8, depths=(2, 2), num_heads=(1, 2), window_size=3,
                              drop_path_rate=0.5, **kw)


def test_remat_and_drop_path():
  x = jnp.asarray(np.random.RandomState(0).randn(2, 20, 28, 3), jnp.float32)  # not /window.
  plain, remat = _tiny(), _tiny(remat=True)
  variables = plain.init(jax.random.key(0), x)
  loss = lambda m: lambda v: sum(jnp.sum(o ** 2) for o in m.apply(v, x))
  np.testing.assert_array_equal(jax.jit(loss(plain))(variables), jax.jit(loss(remat))(variables))
  grads = [jax.jit(jax.grad(loss(m)))(variables) for m in (plain, remat)]
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), *grads)
  # Drop path is off at eval and random (per sample) in training.
  apply = jax.jit(plain.apply, static_argnames="train")
  train = [apply(variables, x, train=True, rngs={"dropout": jax.random.key(i)})
           for i in range(2)]
  assert not np.allclose(train[0][-1], train[1][-1])
  np.testing.assert_array_equal(apply(variables, x)[-1],
                                apply(variables, x, rngs={"dropout": jax.random.key(0)})[-1])


def test_swin_b_at_kitti_size_gives_strides_4_to_32():
  model = swin.SwinTransformer()   # Swin-B defaults.
  x = jax.ShapeDtypeStruct((1, 384, 1248, 3), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  outs = jax.eval_shape(model.apply, variables, x)
  assert [o.shape for o in outs] == [(1, 96, 312, 128), (1, 48, 156, 256), (1, 24, 78, 512),
                                     (1, 12, 39, 1024)]


def test_frozen_stages_follow_mmdet_swin():
  from video_knet_jax.configs import kitti_step
  from video_knet_jax.models import backbones  # pylint: disable=g-import-not-at-top
  config = kitti_step.get_config("swin_b")
  assert not backbones.frozen_param_filter(config)("backbone/patch_embed/proj/kernel")  # -1.
  config.model.backbone.frozen_stages = 2   # patch_embed + layers.0.
  is_frozen = backbones.frozen_param_filter(config)
  assert is_frozen("backbone/patch_embed/proj/kernel")
  assert is_frozen(("backbone", "layers", "0", "blocks", "1", "attn", "qkv", "kernel"))
  assert not is_frozen("backbone/layers/1/blocks/0/norm1/scale")
  assert not is_frozen("backbone/norm0/scale") and not is_frozen("neck/fpn_convs/0/conv/kernel")
  config.model.backbone.name = "vit"
  with pytest.raises(ValueError, match="backbone.name='vit'"):
    backbones.build_backbone(config.model.backbone)
