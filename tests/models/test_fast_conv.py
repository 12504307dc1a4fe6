"""fast_conv: same values and gradients as `lax.conv_general_dilated`."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from video_knet_jax.models import fast_conv
from video_knet_jax.models import resnet

DN = ("NHWC", "HWIO", "NHWC")


def _value_and_grads(conv, x, w, strides, padding, dilation=(1, 1)):
  def f(x, w):
    return conv(x, w, strides, padding, rhs_dilation=dilation,
                dimension_numbers=lax.conv_dimension_numbers(x.shape, w.shape, DN))
  y, vjp = jax.vjp(f, x, w)
  cotangent = jnp.asarray(np.random.RandomState(1).randn(*y.shape), jnp.float32)
  return (y,) + vjp(cotangent)


@pytest.mark.parametrize("size,kernel,stride,pad,dilation", [
    ((9, 11), 1, 1, 0, 1), ((9, 11), 1, 2, 0, 1), ((10, 12), 1, 2, 0, 1),
    ((9, 12), 1, 3, 0, 1), ((9, 11), 3, 2, 1, 1), ((9, 11), 3, 1, 2, 2)])
def test_matches_lax_conv_value_and_grads(size, kernel, stride, pad, dilation):
  rng = np.random.RandomState(0)
  x = jnp.asarray(rng.randn(2, *size, 5), jnp.float32)
  w = jnp.asarray(rng.randn(kernel, kernel, 5, 7), jnp.float32)
  args = (x, w, (stride, stride), ((pad, pad), (pad, pad)), (dilation, dilation))
  expected = _value_and_grads(lax.conv_general_dilated, *args)
  got = _value_and_grads(fast_conv.conv_general_dilated, *args)
  for name, e, g in zip(("value", "d_input", "d_kernel"), expected, got):
    assert g.shape == e.shape, name
    np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("kernel,stride,padding", [
    ((3, 3), 1, ((1, 1), (1, 1))), ((3, 3), 1, ((0, 2), (1, 0))),
    ((1, 3), 1, ((0, 0), (1, 1))), ((3, 3), 2, ((1, 1), (1, 1))),
    ((3, 3), 3, ((1, 0), (0, 1)))])
def test_weight_gradient_by_taps_matches_lax(monkeypatch, kernel, stride, padding):
  """k x k convolutions above TAPS_MIN_ELEMENTS (all here): same values and
  gradients, and the taps path is the one taken."""
  monkeypatch.setattr(fast_conv, "TAPS_MIN_ELEMENTS", 1)
  rng = np.random.RandomState(4)
  x = jnp.asarray(rng.randn(2, 9, 11, 5), jnp.float32)
  w = jnp.asarray(rng.randn(*kernel, 5, 7), jnp.float32)
  args = (x, w, (stride, stride), padding)
  expected = _value_and_grads(lax.conv_general_dilated, *args)
  got = _value_and_grads(fast_conv.conv_general_dilated, *args)
  for name, e, g in zip(("value", "d_input", "d_kernel"), expected, got):
    assert g.shape == e.shape, name
    np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-4, err_msg=name)
  jaxpr = str(jax.make_jaxpr(lambda x, w: fast_conv.conv_general_dilated(
      x, w, (stride, stride), padding, dimension_numbers=DN))(x, w))
  assert "custom_vjp_call" in jaxpr


@pytest.mark.parametrize("kernel,stride,padding", [
    ((3, 3), 1, ((1, 1), (1, 1))), ((3, 3), 1, ((0, 2), (1, 0))),
    ((1, 3), 1, ((0, 0), (1, 1))), ((5, 5), 1, ((2, 2), (2, 2))),
    ((3, 3), 2, ((1, 1), (1, 1))), ((3, 3), 2, ((0, 1), (1, 0))),
    ((3, 3), 3, ((1, 0), (0, 1)))])
def test_weight_gradient_by_row_bands_matches_lax(monkeypatch, kernel, stride,
                                                  padding):
  """Convolutions above BANDS_MIN_ELEMENTS with bands allowed: same values
  and gradients, summed over several bands per image (the last one shorter
  where the rows do not divide; strided bands read overlapping input rows)
  for both images."""
  monkeypatch.setattr(fast_conv, "BANDS_MIN_ELEMENTS", 1)
  monkeypatch.setattr(fast_conv, "BAND_PIXELS", 24 // stride)
  monkeypatch.setattr(fast_conv, "_bands_allowed", lambda: True)
  bands = []
  row_bands = fast_conv._row_bands
  monkeypatch.setattr(fast_conv, "_row_bands",
                      lambda *a: bands.append(row_bands(*a)) or bands[-1])
  rng = np.random.RandomState(5)
  x = jnp.asarray(rng.randn(2, 9, 11, 5), jnp.float32)
  w = jnp.asarray(rng.randn(*kernel, 5, 7), jnp.float32)
  args = (x, w, (stride, stride), padding)
  expected = _value_and_grads(lax.conv_general_dilated, *args)
  got = _value_and_grads(fast_conv.conv_general_dilated, *args)
  for name, e, g in zip(("value", "d_input", "d_kernel"), expected, got):
    assert g.shape == e.shape, name
    np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-4, err_msg=name)
  ho = expected[0].shape[1]
  assert bands and len(bands[0]) > 1 and bands[0][-1][1] == ho


def test_row_bands_cover_the_output_within_the_band_limit(monkeypatch):
  monkeypatch.setattr(fast_conv, "BAND_PIXELS", 1280)
  monkeypatch.setattr(fast_conv, "MAX_BANDS", 64)
  for batch, ho, wo in [(2, 48, 160), (2, 96, 312), (1, 24, 80), (40, 96, 312), (1, 3, 5000)]:
    bands = fast_conv._row_bands(batch, ho, wo)
    assert bands[0][0] == 0 and bands[-1][1] == ho
    assert all(a[1] == b[0] for a, b in zip(bands, bands[1:]))
    assert batch * len(bands) <= max(64, batch)
  assert len(fast_conv._row_bands(2, 48, 160)) == 6          # 8 rows x 160 = 1280 px
  assert len(fast_conv._row_bands(1, 24, 80)) == 2           # 12 rows x 80


def test_bands_only_on_a_single_cpu_device():
  """The test session emulates 8 CPU devices: the banded path stays off."""
  assert jax.device_count() > 1 and not fast_conv._bands_allowed()


def test_strided_1x1_input_gradient_is_zero_off_the_sampled_pixels():
  x = jnp.ones((1, 5, 5, 2))
  w = jnp.ones((1, 1, 2, 3))
  _, dx, _ = _value_and_grads(fast_conv.conv_general_dilated, x, w, (2, 2),
                              ((0, 0), (0, 0)))
  sampled = np.zeros((5, 5), bool)
  sampled[::2, ::2] = True
  assert np.all(np.asarray(dx[0, ~sampled]) == 0)
  assert np.all(np.asarray(dx[0, sampled]) != 0)


def test_bottleneck_block_matches_plain_convolutions(monkeypatch):
  """A strided ResNet block with its projection: output, input and param grads."""
  block = resnet.Bottleneck(width=4, stride=2, with_downsample=True, frozen_bn=False)
  x = jnp.asarray(np.random.RandomState(2).randn(2, 10, 14, 8), jnp.float32)
  variables = block.init(jax.random.key(0), x)
  cotangent = jnp.asarray(np.random.RandomState(3).randn(2, 5, 7, 16), jnp.float32)

  def run():
    def f(params, x):
      return block.apply({**variables, "params": params}, x, train=True,
                         mutable=["batch_stats"])[0]
    y, vjp = jax.vjp(f, variables["params"], x)
    return y, vjp(cotangent)

  fast = run()
  monkeypatch.setattr(fast_conv, "conv_general_dilated", lax.conv_general_dilated)
  plain = run()
  for e, g in zip(jax.tree.leaves(plain), jax.tree.leaves(fast)):
    np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4)
