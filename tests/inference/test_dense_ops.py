"""dense_ops: the same values as jax.image.resize (bilinear) and jnp.argmax."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from video_knet_jax.inference import dense_ops


@pytest.mark.parametrize("shape", [(3, 24, 40), (3, 12, 20), (3, 6, 30), (3, 12, 10),
                                   (3, 13, 20), (3, 5, 7)])
def test_resize_matches_jax_image_resize(shape):
  """Integer factors 1-4 per axis take the two-tap path; others fall back."""
  x = jnp.asarray(np.random.RandomState(0).randn(3, 6, 10), jnp.float32)
  expected = jax.image.resize(x, shape, method="bilinear", antialias=False)
  got = dense_ops.resize_bilinear(x, shape)
  assert got.shape == expected.shape
  np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_split_and_interleave_phases_are_inverse_and_index_as_documented():
  x = jnp.arange(2 * 12 * 20, dtype=jnp.int32).reshape(2, 12, 20)
  y = dense_ops.split_phases(x, 3, 4)                          # [2, 3, 4, 4, 5]
  assert y.shape == (2, 3, 4, 4, 5)
  assert int(y[1, 2, 3, 1, 4]) == int(x[1, 3 * 1 + 2, 4 * 4 + 3])
  np.testing.assert_array_equal(dense_ops.interleave_phases(y), x)
  with pytest.raises(ValueError, match="multiple"):
    dense_ops.split_phases(x, 5, 4)


def test_phase_planes_of_a_two_factor_upsampling_equal_jax_image_resize():
  """Planes (a, b) of an x3 (rows) x2 (columns) upsampling, stacked and
  interleaved, against jax.image.resize; plane a * cols + b holds output
  pixels (3i + a, 2j + b)."""
  x = jnp.asarray(np.random.RandomState(2).randn(2, 5, 7), jnp.float32)
  planes = dense_ops.upsample_planes(x, 3, 2)
  assert len(planes) == 6 and all(p.shape == (2, 5, 7) for p in planes)
  expected = jax.image.resize(x, (2, 15, 14), method="bilinear", antialias=False)
  np.testing.assert_allclose(planes[2 * 2 + 1], expected[:, 2::3, 1::2], rtol=0, atol=1e-5)
  got = dense_ops.interleave_phases(dense_ops.stack_planes(planes, 3, 2))
  np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_resize_edges_replicate_like_torch_align_corners_false():
  # torch: F.interpolate([[0, 4]], scale_factor=2, mode='bilinear') -> [0, 1, 3, 4].
  got = dense_ops.resize_bilinear(jnp.asarray([[0.0, 4.0]]), (1, 4))
  np.testing.assert_allclose(got, [[0.0, 1.0, 3.0, 4.0]], atol=1e-6)


@pytest.mark.parametrize("group", [1, 3, 4])   # 6 slices: padded to 6 / 6 / 8.
def test_argmax_first_streamed_equals_argmax_of_the_stack(group):
  rng = np.random.default_rng(5)
  logits = rng.normal(size=(6, 3, 4)).astype(np.float32)
  logits[4] = logits[1]                     # a tie: the first index wins.
  scale = np.array([1.0, 2.0, 0.5, 1.0, 2.0, 1.5], np.float32)

  def one(inputs):
    x, s = inputs
    value = s * jax.nn.sigmoid(jnp.repeat(x, 2, axis=0))   # computed per slice.
    return value, jnp.sum(value > 0.5)

  index, aux = jax.jit(lambda x, s: dense_ops.argmax_first_streamed(one, (x, s), group))(
      logits, scale)
  stack = scale[:, None, None] * jax.nn.sigmoid(jnp.repeat(logits, 2, axis=1))
  np.testing.assert_array_equal(index, jnp.argmax(stack, axis=0))
  np.testing.assert_array_equal(aux, jnp.sum(stack > 0.5, axis=(1, 2)))


def test_argmax_first_streamed_folds_each_plane_of_a_pytree_value():
  rng = np.random.default_rng(6)
  a = -np.abs(rng.normal(size=(5, 3, 4))).astype(np.float32) - 0.1   # below the
  b = rng.normal(size=(5, 2, 2)).astype(np.float32)                    # zero padding.
  b[3] = b[0]                                            # a tie: the first index wins.
  index, aux = jax.jit(lambda x, y: dense_ops.argmax_first_streamed(
      lambda xy: ([xy[0], xy[1]], None), (x, y), group=2))(a, b)
  assert aux is None
  np.testing.assert_array_equal(index[0], jnp.argmax(a, axis=0))
  np.testing.assert_array_equal(index[1], jnp.argmax(b, axis=0))
