"""A frozen BatchNorm folded into its conv equals flax's nn.Conv -> nn.BatchNorm."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from video_knet_jax.models import frozen_bn


class _Unfolded(nn.Module):
  """The reference: flax's own conv and BatchNorm with running statistics."""
  features: int
  kernel_size: int
  stride: int
  padding: int
  dilation: int

  @nn.compact
  def __call__(self, x):
    y = nn.Conv(self.features, (self.kernel_size,) * 2, strides=(self.stride,) * 2,
                padding=((self.padding, self.padding),) * 2,
                kernel_dilation=(self.dilation,) * 2, use_bias=False, name="conv")(x)
    return nn.BatchNorm(use_running_average=True, epsilon=1e-5, name="bn")(y)


class _Folded(_Unfolded):
  """The same conv and BN, folded."""

  @nn.compact
  def __call__(self, x):
    return frozen_bn.conv_frozen_bn(
        x, self.features, self.kernel_size, stride=self.stride, padding=self.padding,
        dilation=self.dilation, conv_name="conv", bn_name="bn")


def _random_variables(variables, seed):
  leaves, tree = jax.tree_util.tree_flatten_with_path(variables)
  rng = np.random.RandomState(seed)
  out = []
  for path, leaf in leaves:
    name = jax.tree_util.keystr(path)
    if "var" in name or "scale" in name:
      out.append(jnp.asarray(rng.uniform(0.3, 2.0, leaf.shape), jnp.float32))
    else:
      out.append(jnp.asarray(rng.randn(*leaf.shape), jnp.float32))
  return jax.tree_util.tree_unflatten(tree, out)


@pytest.mark.parametrize("kernel_size,stride,padding,dilation",
                         [(1, 1, 0, 1), (1, 2, 0, 1), (3, 1, 1, 1), (3, 2, 1, 1), (3, 1, 2, 2),
                          (7, 2, 3, 1)])
def test_folded_equals_conv_then_batchnorm(kernel_size, stride, padding, dilation):
  x = jnp.asarray(np.random.RandomState(0).randn(2, 11, 13, 6), jnp.float32)
  args = (5, kernel_size, stride, padding, dilation)
  reference, folded = _Unfolded(*args), _Folded(*args)
  variables = _random_variables(reference.init(jax.random.key(0), x), seed=1)
  # Same variable tree: checkpoints and converters see no difference.
  assert (jax.tree_util.tree_structure(variables)
          == jax.tree_util.tree_structure(folded.init(jax.random.key(0), x)))
  cotangent = jnp.asarray(np.random.RandomState(2).randn(
      *jax.eval_shape(reference.apply, variables, x).shape), jnp.float32)

  def loss(module, params, inputs):
    y = module.apply({"params": params, "batch_stats": variables["batch_stats"]}, inputs)
    return jnp.vdot(y, cotangent), y

  grads = {}
  for name, module in (("reference", reference), ("folded", folded)):
    grads[name] = jax.jit(jax.grad(lambda p, i, m=module: loss(m, p, i), argnums=(0, 1),
                                   has_aux=True))(variables["params"], x)
  (g_ref, dx_ref), y_ref = grads["reference"]
  (g_fold, dx_fold), y_fold = grads["folded"]
  np.testing.assert_allclose(y_fold, y_ref, rtol=1e-5, atol=1e-5 * np.abs(y_ref).max())
  np.testing.assert_allclose(dx_fold, dx_ref, rtol=1e-5, atol=1e-5 * np.abs(dx_ref).max())
  for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(g_fold)[0],
                          jax.tree_util.tree_leaves(g_ref)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max(),
                               err_msg=jax.tree_util.keystr(path))


def test_scale_output_channels_gradient_equals_autodiff():
  rng = np.random.RandomState(3)
  kernel = jnp.asarray(rng.randn(3, 3, 7, 4), jnp.float32)
  factor = jnp.asarray(rng.randn(4), jnp.float32)
  cotangent = jnp.asarray(rng.randn(3, 3, 7, 4), jnp.float32)
  custom = jax.grad(lambda k, f: jnp.vdot(frozen_bn.scale_output_channels(k, f), cotangent),
                    argnums=(0, 1))(kernel, factor)
  plain = jax.grad(lambda k, f: jnp.vdot(k * f, cotangent), argnums=(0, 1))(kernel, factor)
  np.testing.assert_allclose(custom[0], plain[0], rtol=1e-6)
  np.testing.assert_allclose(custom[1], plain[1], rtol=1e-5)
  # By hand for one channel: d factor[c] = sum(kernel[..., c] * cotangent[..., c]).
  np.testing.assert_allclose(custom[1][2], np.sum(np.asarray(kernel)[..., 2]
                                                  * np.asarray(cotangent)[..., 2]), rtol=1e-5)


def test_folding_pays_when_the_output_has_more_pixels_than_a_kernel_column_has_taps():
  # R50 at 192x640, two frames: layer2's 3x3 (2 x 24 x 80 out, 9 x 128 taps) folds,
  # layer3's 3x3 (2 x 12 x 40 = 960 pixels against 9 x 256 taps) and layer4's
  # first 1x1 (960 against 1024 taps) do not.
  assert frozen_bn.folding_pays((2, 24, 80, 128), 3, 1, 1)
  assert not frozen_bn.folding_pays((2, 12, 40, 256), 3, 1, 1)
  assert not frozen_bn.folding_pays((2, 12, 40, 1024), 1)
  assert frozen_bn.folding_pays((2, 12, 40, 512), 1)
  # Stride and dilation enter through the output size: 48 x 160 -> 24 x 80 (3840 >= 1152).
  assert frozen_bn.folding_pays((2, 48, 160, 128), 3, 2, 1)
  assert not frozen_bn.folding_pays((1, 4, 4, 8), 3, 1, 2, 2)   # 4 x 4 = 16 < 72 taps


def test_folding_is_left_out_for_symbolic_sizes():
  b, h, w = jax.export.symbolic_shape("b, h, w")
  assert not frozen_bn.folding_pays((b, h, w, 64), 3, 1, 1)


def test_channel_shift_gradient_is_the_sum_over_pixels():
  rng = np.random.RandomState(4)
  y = jnp.asarray(rng.randn(2, 5, 7, 3), jnp.float32)
  shift = jnp.asarray(rng.randn(3), jnp.float32)
  cotangent = jnp.asarray(rng.randn(2, 5, 7, 3), jnp.float32)
  out, vjp = jax.vjp(frozen_bn.add_channel_shift, y, shift)
  np.testing.assert_array_equal(out, y + shift)
  d_y, d_shift = vjp(cotangent)
  np.testing.assert_array_equal(d_y, cotangent)
  np.testing.assert_allclose(d_shift, np.asarray(cotangent).sum(axis=(0, 1, 2)), rtol=1e-5)
