"""Hand-checked numerics of the small building blocks against numpy references."""
import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.models import np_reference as ref
from video_knet_jax.models import containers
from video_knet_jax.models import conv_module
from video_knet_jax.models import kernel_head
from video_knet_jax.models import kernel_updator
from video_knet_jax.models import positional_encoding
from video_knet_jax.models import reductions
from video_knet_jax.models import resize
from video_knet_jax.models import resnet
from video_knet_jax.models import transformer_layers


def test_sine_positional_encoding_matches_direct_formula():
  h, w, f, temp = 3, 5, 6, 10000.0
  got = np.asarray(positional_encoding.sine_positional_encoding(h, w, f, temp))
  assert got.shape == (h, w, 2 * f)
  eps, scale = 1e-6, 2 * math.pi
  for i in range(h):
    for j in range(w):
      y = (i + 1) / (h + eps) * scale
      x = (j + 1) / (w + eps) * scale
      for k in range(f):
        dim_t = temp ** (2 * (k // 2) / f)
        fn = math.sin if k % 2 == 0 else math.cos
        np.testing.assert_allclose(got[i, j, k], fn(y / dim_t), atol=1e-6)
        np.testing.assert_allclose(got[i, j, f + k], fn(x / dim_t), atol=1e-6)
  # Spot value: first channel of the last row is sin(2*pi*H/(H+eps)) ~ 0.
  assert abs(got[-1, 0, 0]) < 1e-4


def test_kernel_updator_matches_numpy():
  d = 8
  feats = jnp.asarray(np.random.RandomState(1).randn(2, 5, d), jnp.float32)
  kernels = jnp.asarray(np.random.RandomState(2).randn(2, 5, d), jnp.float32)
  module = kernel_updator.KernelUpdator(d, d)
  # Random LayerNorm affine params too, so that every norm is exercised.
  params = ref.random_variables(module, feats, kernels)["params"]
  got = module.apply({"params": params}, feats, kernels)
  want = ref.kernel_updator(np.asarray(feats, np.float64), np.asarray(kernels, np.float64),
                            ref.as_np(params))
  np.testing.assert_allclose(np.asarray(got), want, atol=1e-4)
  assert sorted(params) == sorted([
      "dynamic_layer", "input_layer", "input_gate", "update_gate", "norm_in", "norm_out",
      "input_norm_in", "input_norm_out", "fc_layer", "fc_norm"])


def test_masked_sum_pool_is_a_sum_over_thresholded_pixels():
  logits = np.array([[[[2.0, -1.0], [0.5, -3.0]],       # kernel 0: pixels (0,0), (1,0)
                      [[-1.0, -1.0], [-1.0, -1.0]]]])   # kernel 1: nothing
  feats = np.arange(1, 2 * 2 * 3 + 1, dtype=np.float32).reshape(1, 2, 2, 3)
  got = np.asarray(kernel_head.masked_sum_pool(jnp.asarray(logits), jnp.asarray(feats), 0.5))
  np.testing.assert_allclose(got[0, 0], feats[0, 0, 0] + feats[0, 1, 0])  # sum, not mean.
  np.testing.assert_allclose(got[0, 1], 0.0)
  # A higher threshold drops the 0.5-logit pixel (sigmoid(0.5) = 0.62).
  got = np.asarray(kernel_head.masked_sum_pool(jnp.asarray(logits), jnp.asarray(feats), 0.7))
  np.testing.assert_allclose(got[0, 0], feats[0, 0, 0])


@pytest.mark.parametrize("size", [(6, 10), (7, 9)])
def test_stride2_conv_uses_symmetric_torch_padding(size):
  x = jnp.asarray(np.random.RandomState(0).randn(1, *size, 3), jnp.float32)
  module = conv_module.ConvModule(4, 3, stride=2, use_bias=True, activation=False)
  params = ref.random_variables(module, x)["params"]
  got = np.asarray(module.apply({"params": params}, x))
  want = ref.conv2d_nhwc(np.asarray(x, np.float64), np.asarray(params["conv"]["kernel"]),
                         np.asarray(params["conv"]["bias"]), stride=2, pad=1)
  assert got.shape == want.shape == (1, (size[0] + 1) // 2, (size[1] + 1) // 2, 4)
  np.testing.assert_allclose(got, want, atol=1e-5)


def test_resnet_stem_conv_and_maxpool_padding():
  # All negative, so a zero-padded max pool would differ from torch's -inf padding.
  x = jnp.asarray(np.random.RandomState(0).randn(1, 10, 14, 3) - 10.0, jnp.float32)
  got = np.asarray(resnet._max_pool_3x3_s2(x))
  np.testing.assert_allclose(got, ref.max_pool_3x3_s2(np.asarray(x, np.float64)), atol=1e-6)
  odd = x[:, :9, :13]
  np.testing.assert_allclose(np.asarray(resnet._max_pool_3x3_s2(odd)),
                             ref.max_pool_3x3_s2(np.asarray(odd, np.float64)), atol=1e-6)
  conv = resnet._conv(4, 7, 2, 3, jnp.float32, "conv1")
  params = ref.random_variables(conv, x)["params"]
  np.testing.assert_allclose(
      np.asarray(conv.apply({"params": params}, x)),
      ref.conv2d_nhwc(np.asarray(x, np.float64), np.asarray(params["kernel"]), stride=2, pad=3),
      atol=1e-4)


def test_resnet_maxpool_gradient_equals_reduce_window():
  # Distinct values (no ties): the slice formulation routes every gradient to
  # the same window maximum as flax's reduce-window max pool.
  x = jnp.asarray(np.random.RandomState(1).permutation(2 * 11 * 12 * 3).reshape(2, 11, 12, 3),
                  jnp.float32)
  w = jnp.asarray(np.random.RandomState(2).randn(2, 6, 6, 3), jnp.float32)
  flax_pool = lambda v: nn.max_pool(v, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
  want = jax.grad(lambda v: jnp.sum(flax_pool(v) * w))(x)
  got = jax.grad(lambda v: jnp.sum(resnet._max_pool_3x3_s2(v) * w))(x)
  np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-6)


def test_resize_matches_torch_formulas():
  x = np.random.RandomState(0).randn(2, 3, 5, 4)
  got = np.asarray(resize.resize_bilinear_nhwc(jnp.asarray(x, jnp.float32), (6, 10)))
  want = ref.bilinear_resize_axis(ref.bilinear_resize_axis(x, 6, 1), 10, 2)
  np.testing.assert_allclose(got, want, atol=1e-5)
  # torch nearest: src = floor(dst * in / out).
  got = np.asarray(resize.resize_nearest_nhwc(jnp.asarray(x), (6, 7)))
  rows = [int(math.floor(i * 3 / 6)) for i in range(6)]
  cols = [int(math.floor(j * 5 / 7)) for j in range(7)]
  np.testing.assert_array_equal(got, x.astype(np.float32)[:, rows][:, :, cols])
  got = np.asarray(resize.resize_nearest_nhwc(jnp.asarray(x), (6, 10)))   # exact x2 path.
  np.testing.assert_array_equal(got, x.astype(np.float32)[:, [0, 0, 1, 1, 2, 2]][
      :, :, [j // 2 for j in range(10)]])


def test_nearest_integer_upsample_gradient_sums_each_source_pixel():
  """The x2 / x3 repeat's hand-written gradient: each source pixel receives
  the sum of the output gradient over the pixels it was copied to."""
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.normal(size=(2, 3, 4, 5)), jnp.float32)
  for fh, fw in ((2, 2), (3, 2)):
    g = rng.normal(size=(2, 3 * fh, 4 * fw, 5)).astype(np.float32)
    _, vjp = jax.vjp(lambda v: resize.resize_nearest_nhwc(v, (3 * fh, 4 * fw)),
                     x)
    want = g.reshape(2, 3, fh, 4, fw, 5).astype(np.float64).sum((2, 4))
    np.testing.assert_allclose(vjp(jnp.asarray(g))[0], want, rtol=1e-6,
                               atol=1e-6)


def test_multihead_attention_matches_numpy_and_xavier_bounds():
  e, h = 16, 4
  q = jnp.asarray(np.random.RandomState(0).randn(2, 5, e), jnp.float32)
  kv = jnp.asarray(np.random.RandomState(1).randn(2, 7, e), jnp.float32)
  module = transformer_layers.MultiheadAttention(e, h)
  params = ref.random_variables(module, q, kv)["params"]
  got = np.asarray(module.apply({"params": params}, q, kv))
  want = ref.mha(np.asarray(q, np.float64), np.asarray(kv, np.float64),
                 ref.as_np(params["attn"]), h)
  np.testing.assert_allclose(got, want, atol=1e-4)
  fresh = jax.jit(module.init)(jax.random.key(2), q, kv)["params"]["attn"]
  assert fresh["query"]["kernel"].shape == (e, h, e // h)
  assert fresh["out"]["kernel"].shape == (h, e // h, e)
  # torch xavier on the packed (3E, E) in_proj: bound sqrt(6 / 4E).
  assert float(jnp.abs(fresh["query"]["kernel"]).max()) <= math.sqrt(6 / (4 * e))
  assert float(jnp.abs(fresh["query"]["kernel"]).max()) > 0.8 * math.sqrt(6 / (4 * e))


def test_containers_use_torch_index_names():
  dense = lambda n: functools.partial(nn.Dense, n)

  class Net(nn.Module):
    @nn.compact
    def __call__(self, x):
      x = containers.Sequential(layers=(dense(3), nn.relu, dense(3)), name="seq")(x)
      return containers.ModuleList(layers=[dense(2)] * 2, parallel=True, name="lst")([x, x])

  params = Net().init(jax.random.key(0), jnp.ones((1, 4)))["params"]
  assert sorted(params["seq"]) == ["0", "2"]     # index 1 is the parameter-free ReLU.
  assert sorted(params["lst"]) == ["0", "1"]


@pytest.mark.parametrize("by_hand", [True, False])
def test_group_norm_equals_flax_group_norm(monkeypatch, by_hand):
  """conv_module.GroupNorm against flax's nn.GroupNorm: values, gradients; with
  the sums as products with ones (the CPU's path) and as reduces (other backends)."""
  monkeypatch.setattr(reductions, "by_hand", lambda: by_hand)
  rng = np.random.RandomState(5)
  x = jnp.asarray(3.0 * rng.randn(2, 9, 11, 64) + 1.5, jnp.float32)
  params = {"scale": jnp.asarray(rng.uniform(0.5, 1.5, 64), jnp.float32),
            "bias": jnp.asarray(rng.randn(64), jnp.float32)}
  cotangent = jnp.asarray(rng.randn(*x.shape), jnp.float32)
  ours = conv_module.GroupNorm(32)
  reference = nn.GroupNorm(num_groups=32, epsilon=conv_module.NORM_EPS)
  assert (jax.tree_util.tree_structure(ours.init(jax.random.key(0), x))
          == jax.tree_util.tree_structure(reference.init(jax.random.key(0), x)))
  results = []
  for module in (ours, reference):
    loss = lambda p, x, m=module: jnp.vdot(m.apply({"params": p}, x), cotangent)
    results.append((module.apply({"params": params}, x),
                    *jax.grad(loss, argnums=(0, 1))(params, x)))
  (y, d_params, d_x), (y_ref, d_params_ref, d_x_ref) = results
  np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(d_x, d_x_ref, rtol=1e-4, atol=1e-5 * np.abs(d_x_ref).max())
  for name in ("scale", "bias"):
    np.testing.assert_allclose(d_params[name], d_params_ref[name], rtol=1e-5,
                               atol=1e-5 * np.abs(d_params_ref[name]).max())
