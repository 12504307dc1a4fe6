"""Multi-scale deformable attention vs mmcv's grid_sample form (PyTorch) and hand cases."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from video_knet_jax.models import ms_deform_attn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

# pylint: disable-next=g-import-not-at-top,wrong-import-position
from tests.convert.torch_reference import ms_deform_attn as torch_msda

SHAPES = ((7, 9), (4, 5), (2, 3))   # odd sizes: x and y scales differ per level.
TOL = dict(rtol=1e-5, atol=1e-5)


def _inputs(seed, b=2, q=13, heads=4, dh=8, points=4):
  rng = np.random.RandomState(seed)
  s = sum(h * w for h, w in SHAPES)
  value = rng.randn(b, s, heads, dh).astype(np.float32)
  # Some points outside [0, 1] on every side: their off-map neighbours count 0.
  loc = rng.uniform(-0.2, 1.2, (b, q, heads, len(SHAPES), points, 2)).astype(np.float32)
  weights = rng.rand(b, q, heads, len(SHAPES), points).astype(np.float32)
  weights /= weights.sum((-1, -2), keepdims=True)
  cotangent = rng.randn(b, q, heads * dh).astype(np.float32)
  return value, loc, weights, cotangent


@pytest.mark.parametrize("method, chunk", [("gather", 1024), ("one_hot", 1024),
                                           ("one_hot", 4)])   # 4: queries in chunks.
def test_values_and_gradients_equal_mmcv_grid_sample_form(method, chunk):
  value, loc, weights, cotangent = _inputs(0)
  tensors = [torch.tensor(x, requires_grad=True) for x in (value, loc, weights)]
  out_t = torch_msda.multi_scale_deformable_attn_pytorch(tensors[0], SHAPES, *tensors[1:])
  (out_t * torch.from_numpy(cotangent)).sum().backward()

  fn = lambda v, l, a: ms_deform_attn.multi_scale_deformable_attention(
      v, SHAPES, l, a, method=method, query_chunk=chunk)
  out, vjp = jax.vjp(jax.jit(fn), value, loc, weights)
  np.testing.assert_allclose(out, out_t.detach().numpy(), **TOL)
  for name, grad, t in zip(("value", "locations", "weights"), vjp(cotangent), tensors):
    np.testing.assert_allclose(grad, t.grad.numpy(), err_msg=name, **TOL)


def test_hand_cases_pixel_centres_edges_and_outside():
  # One level 2x3, one head, Dh 1: value[y, x] = 10 y + x.
  value = jnp.asarray([0, 1, 2, 10, 11, 12], jnp.float32).reshape(1, 6, 1, 1)
  attend = jax.jit(lambda loc: ms_deform_attn.multi_scale_deformable_attention(
      value, ((2, 3),), loc, jnp.ones((1, 1, 1, 1, 1))))
  def sample(x, y):
    return float(attend(jnp.asarray([x, y], jnp.float32).reshape(1, 1, 1, 1, 1, 2))[0, 0, 0])
  assert sample(1.5 / 3, 0.5 / 2) == pytest.approx(1.0)       # centre of pixel (0, 1).
  assert sample(1.0 / 3, 1.0 / 2) == pytest.approx(5.5)       # between 4 pixels.
  assert sample(0.0, 1.5 / 2) == pytest.approx(10 * 0.5)      # left edge: x=-1 counts 0.
  assert sample(2.5 / 3, 0.0) == pytest.approx(2 * 0.5)       # top edge, pixel (0, 2) x 0.5.
  assert sample(1.2, 0.5) == 0.0 and sample(0.5, -0.3) == 0.0  # fully outside.


def test_module_equals_mmcv_module_and_init_matches():
  d, heads, levels, points = 32, 4, len(SHAPES), 2
  torch.manual_seed(0)
  module_t = torch_msda.MultiScaleDeformableAttention(d, heads, levels, points)
  module_f = ms_deform_attn.MultiScaleDeformableAttention(d, heads, levels, points)
  rng = np.random.RandomState(1)
  b, q = 2, sum(h * w for h, w in SHAPES)
  query = rng.randn(b, q, d).astype(np.float32)
  pos = rng.randn(1, q, d).astype(np.float32)
  ref = rng.uniform(0, 1, (b, q, levels, 2)).astype(np.float32)
  init = jax.jit(lambda key: module_f.init(key, query, ref, SHAPES, query_pos=pos))(
      jax.random.key(0))["params"]
  # mmcv init: zero offset/attention kernels and the same rotating-grid bias.
  np.testing.assert_array_equal(init["sampling_offsets"]["bias"],
                                module_t.sampling_offsets.bias.detach().numpy())
  assert not np.any(init["sampling_offsets"]["kernel"])
  assert not np.any(init["attention_weights"]["kernel"])

  with torch.no_grad():   # random weights everywhere (init zeros hide transposes).
    for p in module_t.parameters():
      p.copy_(0.2 * torch.randn_like(p))
  params = {name: {"kernel": getattr(module_t, name).weight.detach().numpy().T,
                   "bias": getattr(module_t, name).bias.detach().numpy()}
            for name in ("sampling_offsets", "attention_weights", "value_proj", "output_proj")}
  query_t = torch.tensor(query.transpose(1, 0, 2), requires_grad=True)   # sequence-first.
  out_t = module_t(query_t, query_pos=torch.from_numpy(pos.transpose(1, 0, 2)),
                   reference_points=torch.from_numpy(ref), spatial_shapes=SHAPES)
  cotangent = rng.randn(q, b, d).astype(np.float32)
  (out_t * torch.from_numpy(cotangent)).sum().backward()

  apply = lambda p, x: module_f.apply({"params": p}, x, ref, SHAPES, query_pos=pos)
  out, vjp = jax.vjp(jax.jit(apply), params, query)
  np.testing.assert_allclose(out, out_t.detach().numpy().transpose(1, 0, 2), **TOL)
  grad_params, grad_query = vjp(jnp.asarray(cotangent.transpose(1, 0, 2)))
  np.testing.assert_allclose(grad_query, query_t.grad.numpy().transpose(1, 0, 2), **TOL)
  for name in params:   # sums over all B*Q queries: 1e-5 of the gradient's scale.
    want = getattr(module_t, name).weight.grad.numpy().T
    scale = np.abs(want).max()
    np.testing.assert_allclose(grad_params[name]["kernel"], want, rtol=0, atol=1e-5 * scale,
                               err_msg=name)


def test_bad_arguments_are_named():
  value, loc, weights, _ = _inputs(2, q=3)
  with pytest.raises(ValueError, match="method 'dense'"):
    ms_deform_attn.multi_scale_deformable_attention(value, SHAPES, loc, weights,
                                                    method="dense")
  with pytest.raises(ValueError, match="spatial_shapes"):
    ms_deform_attn.multi_scale_deformable_attention(value, SHAPES[:2], loc, weights)
