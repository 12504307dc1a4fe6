"""reductions: the CPU's products and loops give jnp's sums and maxima, on every axis."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from video_knet_jax.models import reductions


@pytest.mark.parametrize("by_hand", [True, False])
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_sum_and_max_over_axis_equal_numpy(monkeypatch, by_hand, axis):
  monkeypatch.setattr(reductions, "by_hand", lambda: by_hand)
  x = np.random.RandomState(0).randn(3, 4, 5).astype(np.float32)
  np.testing.assert_allclose(reductions.sum_over_axis(jnp.asarray(x), axis),
                             x.sum(axis), rtol=1e-6, atol=1e-6)
  np.testing.assert_array_equal(reductions.max_over_axis(jnp.asarray(x), axis), x.max(axis))


def test_sum_rows_and_its_gradient():
  x = np.random.RandomState(1).randn(2, 3, 5, 4).astype(np.float32)
  np.testing.assert_allclose(reductions.sum_rows(jnp.asarray(x)), x.sum((0, 1, 2)), rtol=1e-6)
  weights = jnp.arange(4.0)
  grad = jax.grad(lambda v: jnp.vdot(reductions.sum_rows(v), weights))(jnp.asarray(x))
  np.testing.assert_array_equal(grad, np.broadcast_to(np.arange(4.0), x.shape))
