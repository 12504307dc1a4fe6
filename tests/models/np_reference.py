"""Plain-numpy re-implementations (float64) used as independent references.

Written from the spec (video_knet_original.md sections 3.2-3.5) and the
PyTorch operator definitions, reading Flax params only for their values.
"""
import numpy as np


def as_np(tree):
  """Nested dict of arrays -> nested dict of float64 numpy arrays."""
  if isinstance(tree, dict) or hasattr(tree, "items"):
    return {k: as_np(v) for k, v in tree.items()}
  return np.asarray(tree, np.float64)


def sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def relu(x):
  return np.maximum(x, 0.0)


def layer_norm(x, p, eps=1e-5):
  mu = x.mean(-1, keepdims=True)
  var = ((x - mu) ** 2).mean(-1, keepdims=True)
  return (x - mu) / np.sqrt(var + eps) * p["scale"] + p["bias"]


def linear(x, p):
  """torch Linear y = x W^T + b with W^T stored as the Flax kernel."""
  y = x @ p["kernel"]
  return y + p["bias"] if "bias" in p else y


def conv2d_nhwc(x, kernel, bias=None, stride=1, pad=0, pad_value=0.0):
  """Direct loop-free torch Conv2d: x [B,H,W,I], kernel HWIO, symmetric padding."""
  kh, kw = kernel.shape[:2]
  xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=pad_value)
  ho = (xp.shape[1] - kh) // stride + 1
  wo = (xp.shape[2] - kw) // stride + 1
  out = np.zeros((x.shape[0], ho, wo, kernel.shape[-1]))
  for i in range(kh):
    for j in range(kw):
      patch = xp[:, i:i + stride * ho:stride, j:j + stride * wo:stride, :]
      out += patch @ kernel[i, j]
  return out if bias is None else out + bias


def max_pool_3x3_s2(x):
  """torch MaxPool2d(3, 2, padding=1) on NHWC (padding never wins)."""
  xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
  ho = (xp.shape[1] - 3) // 2 + 1
  wo = (xp.shape[2] - 3) // 2 + 1
  out = np.full((x.shape[0], ho, wo, x.shape[3]), -np.inf)
  for i in range(3):
    for j in range(3):
      out = np.maximum(out, xp[:, i:i + 2 * ho:2, j:j + 2 * wo:2])
  return out


def bilinear_resize_axis(x, out_size, axis):
  """torch F.interpolate(mode='bilinear', align_corners=False) along one axis."""
  in_size = x.shape[axis]
  scale = in_size / out_size
  src = np.maximum((np.arange(out_size) + 0.5) * scale - 0.5, 0.0)
  lo = np.minimum(np.floor(src).astype(int), in_size - 1)
  hi = np.minimum(lo + 1, in_size - 1)
  frac = src - lo
  shape = [1] * x.ndim
  shape[axis] = out_size
  frac = frac.reshape(shape)
  return np.take(x, lo, axis) * (1 - frac) + np.take(x, hi, axis) * frac


def mha(q_in, kv_in, p, num_heads):
  """torch nn.MultiheadAttention (batch-first here) from Flax MHA params."""
  b, lq, e = q_in.shape
  dh = e // num_heads
  def proj(x, name):
    k = p[name]["kernel"].reshape(e, e)         # [E, H*Dh], contiguous head blocks.
    return (x @ k + p[name]["bias"].reshape(e)).reshape(b, x.shape[1], num_heads, dh)
  q, k, v = proj(q_in, "query"), proj(kv_in, "key"), proj(kv_in, "value")
  logits = np.einsum("bqhd,bkhd->bhqk", q / np.sqrt(dh), k)
  logits -= logits.max(-1, keepdims=True)
  w = np.exp(logits)
  w /= w.sum(-1, keepdims=True)
  out = np.einsum("bhqk,bkhd->bqhd", w, v).reshape(b, lq, e)
  return out @ p["out"]["kernel"].reshape(e, e) + p["out"]["bias"]


def kernel_updator(feats, kernels, p):
  """Section 3.4 step 6, written out."""
  d = p["input_gate"]["kernel"].shape[0]
  pp = linear(feats, p["dynamic_layer"])
  p_in, p_out = pp[..., :d], pp[..., d:]
  ii = linear(kernels, p["input_layer"])
  i_in, i_out = ii[..., :d], ii[..., d:]
  g = i_in * p_in
  g_in = sigmoid(layer_norm(linear(g, p["input_gate"]), p["input_norm_in"]))
  g_upd = sigmoid(layer_norm(linear(g, p["update_gate"]), p["norm_in"]))
  new = g_upd * layer_norm(p_out, p["norm_out"]) + g_in * layer_norm(i_out, p["input_norm_out"])
  return relu(layer_norm(linear(new, p["fc_layer"]), p["fc_norm"]))


def ffn(x, p):
  return linear(relu(linear(x, p["layers"]["0"]["0"])), p["layers"]["1"])


def update_stage(x_feats, kernels, masks, p, num_heads, previous=None, thr=0.5):
  """One VideoKernelUpdateHead stage (3.4 + linking 3.5 + fusion 3.6).

  Returns (cls, masks, kernels, track kernels).
  """
  x = linear(x_feats, {"kernel": p["feat_transform"]["conv"]["kernel"][0, 0],
                       "bias": p["feat_transform"]["conv"]["bias"]})
  binary = (sigmoid(masks) > thr).astype(np.float64)
  assembled = np.einsum("bnhw,bhwc->bnc", binary, x)
  if previous is not None and "attention_previous_update_link" in p:
    kp = kernel_updator(assembled, previous, p["attention_previous_update_link"])
    c = layer_norm(kernels + mha(kernels, kp, p["attention_previous_link"]["attn"], num_heads),
                   p["attention_previous_norm_link"])
    kernels = layer_norm(c + ffn(c, p["link_ffn_link"]), p["link_ffn_norm_link"])
  obj = kernel_updator(assembled, kernels, p["kernel_update_conv"])
  obj = layer_norm(obj + mha(obj, obj, p["attention"]["attn"], num_heads), p["attention_norm"])
  obj = layer_norm(obj + ffn(obj, p["ffn"]), p["ffn_norm"])
  track = obj
  if previous is not None and "attention_previous" in p:
    t = layer_norm(obj + mha(obj, previous, p["attention_previous"]["attn"], num_heads),
                   p["attention_previous_norm"])
    track = layer_norm(t + ffn(t, p["link_ffn"]), p["link_ffn_norm"])
  def branch(fcs):
    y = obj
    for i in range(0, len(fcs) * 3 // 2, 3):
      y = relu(layer_norm(linear(y, fcs[str(i)]), fcs[str(i + 1)]))
    return y
  cls = linear(branch(p["cls_fcs"]), p["fc_cls"])
  mask_kernels = linear(branch(p["mask_fcs"]), p["fc_mask"])
  return cls, np.einsum("bnc,bhwc->bnhw", mask_kernels, x), obj, track


def random_variables(module, *args, seed=0, std=0.3, **kwargs):
  """Variables of `module` with numpy-random values (no JAX init compile).

  Shapes come from `jax.eval_shape(module.init, ...)`; norm scales are drawn
  around 1, BN variances are positive.
  """
  import jax  # pylint: disable=g-import-not-at-top
  from flax import traverse_util  # pylint: disable=g-import-not-at-top
  shapes = jax.eval_shape(module.init, jax.random.key(0), *args, **kwargs)
  rng = np.random.RandomState(seed)
  out = {}
  for col, tree in shapes.items():
    flat = {}
    for path, leaf in traverse_util.flatten_dict(tree).items():
      value = rng.randn(*leaf.shape) * std
      if path[-1] in ("scale", "var"):
        value = 1.0 + np.abs(value) if path[-1] == "var" else 1.0 + value
      flat[path] = value.astype(np.float32)
    out[col] = traverse_util.unflatten_dict(flat)
  return out
