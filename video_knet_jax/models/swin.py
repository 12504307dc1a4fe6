"""Swin Transformer backbone as the original builds it (`SwinTransformerDIY`), NHWC.

Reference: video_knet_extensions.md section 1. Names mirror the torch
state_dict: patch_embed/{proj, norm}, layers/{i}/blocks/{j}/{norm1, attn/{
relative_position_bias_table, qkv, proj}, norm2, mlp/{fc1, fc2}},
layers/{i}/downsample/{norm, reduction} (i < 3) and norm0..norm3, so the
converter maps it with one key table. The `relative_position_index` buffer and
the shift masks are constants rebuilt here from the window size and the
runtime shape; they are not variables.

Parity-critical details of the original (section 1.6): padding to a window
multiple happens *after* norm1 and the padded tokens are not masked; odd blocks
shift by window // 2 in every stage (also the last); masked logits get -100,
not -inf; patch merging concatenates (even, even), (odd, even), (even, odd),
(odd, odd) (row, col) pixels.
"""
import functools
from typing import Any, Callable, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

LN_EPS = 1e-5
MASK_VALUE = -100.0   # added to the logits of token pairs from different shifted regions.

trunc_normal = nn.initializers.truncated_normal(stddev=0.02)
# PyTorch's default Conv2d init (kaiming_uniform a=sqrt(5); bias U(+-1/sqrt(fan_in))).
_torch_conv_kernel = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def _torch_conv_bias(fan_in: int):
  bound = 1.0 / np.sqrt(fan_in)
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound,
                                                                   bound)


def relative_position_index(window: int) -> np.ndarray:
  """index[p, q] = (r_p - r_q + w - 1) * (2w - 1) + (c_p - c_q + w - 1), [w*w, w*w] int64."""
  rows, cols = np.meshgrid(np.arange(window), np.arange(window), indexing="ij")
  rows, cols = rows.reshape(-1), cols.reshape(-1)   # token p = w * r + c.
  dr = rows[:, None] - rows[None, :] + window - 1
  dc = cols[:, None] - cols[None, :] + window - 1
  return (dr * (2 * window - 1) + dc).astype(np.int64)


def window_size_of_table(num_rows: int) -> int:
  """The window w of a (2w - 1)^2-row relative position bias table."""
  side = int(round(np.sqrt(num_rows)))
  if side * side != num_rows or side % 2 == 0:
    raise ValueError(f"relative_position_bias_table has {num_rows} rows; expected (2w-1)^2.")
  return (side + 1) // 2


def shift_attention_mask(height: int, width: int, window: int, shift: int) -> np.ndarray:
  """[nW, w*w, w*w] additive mask of a shifted block on a padded (height, width) map."""
  labels = np.zeros((height, width), np.int32)
  bands = lambda n: (slice(0, n - window), slice(n - window, n - shift), slice(n - shift, n))
  for i, rows in enumerate(bands(height)):
    for j, cols in enumerate(bands(width)):
      labels[rows, cols] = 3 * i + j
  windows = _partition(labels[None, :, :, None], window)[..., 0]      # [nW, w*w]
  same = windows[:, :, None] == windows[:, None, :]
  return np.where(same, 0.0, MASK_VALUE).astype(np.float32)


def _partition(x, window: int):
  """[B, H, W, C] -> [B * nW, w*w, C], windows row-major, tokens 7r + c."""
  b, h, w, c = x.shape
  x = x.reshape(b, h // window, window, w // window, window, c)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def _unpartition(x, window: int, b: int, h: int, w: int):
  """Inverse of `_partition`: [B * nW, w*w, C] -> [B, H, W, C]."""
  x = x.reshape(b, h // window, w // window, window, window, -1)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, h, w, -1)


def _layer_norm(dtype: Any, name: str) -> nn.LayerNorm:
  return nn.LayerNorm(epsilon=LN_EPS, dtype=dtype, name=name)


def _dense(features: int, dtype: Any, name: str, use_bias: bool = True) -> nn.Dense:
  return nn.Dense(features, use_bias=use_bias, kernel_init=trunc_normal, dtype=dtype, name=name)


class WindowAttention(nn.Module):
  """`attn`: multi-head self-attention inside windows with relative position bias."""
  dim: int
  num_heads: int
  window: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, mask=None):
    # x: [B*nW, w*w, C]; mask: [nW, w*w, w*w] or None.
    n, tokens, c = x.shape
    head_dim = c // self.num_heads
    table = self.param("relative_position_bias_table", trunc_normal,
                       ((2 * self.window - 1) ** 2, self.num_heads), jnp.float32)
    index = relative_position_index(self.window).reshape(-1)
    bias = table[index].reshape(tokens, tokens, self.num_heads).transpose(2, 0, 1)  # [nH, N, N]
    qkv = _dense(3 * c, self.dtype, "qkv")(x).reshape(n, tokens, 3, self.num_heads, head_dim)
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))   # [B*nW, nH, N, hd]
    logits = jnp.einsum("bhqd,bhkd->bhqk", q * head_dim ** -0.5, k,
                        preferred_element_type=jnp.float32) + bias
    if mask is not None:
      num_windows = mask.shape[0]
      logits = logits.reshape(n // num_windows, num_windows, self.num_heads, tokens, tokens)
      logits = (logits + mask[None, :, None]).reshape(n, self.num_heads, tokens, tokens)
    attn = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
    out = jnp.einsum("bhqk,bhkd->bqhd", attn, v).reshape(n, tokens, c)   # heads concatenated.
    return _dense(c, self.dtype, "proj")(out)


class Mlp(nn.Module):
  """`mlp`: fc1 (C -> 4C), exact GELU, fc2 (4C -> C)."""
  dim: int
  hidden: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = nn.gelu(_dense(self.hidden, self.dtype, "fc1")(x), approximate=False)
    return _dense(self.dim, self.dtype, "fc2")(x)


def drop_path(module: nn.Module, x, rate: float, deterministic: bool):
  """Stochastic depth (timm): drop whole samples' residuals, scale kept ones by 1/keep."""
  if deterministic or rate == 0.0:
    return x
  keep = 1.0 - rate
  mask = jax.random.bernoulli(module.make_rng("dropout"), keep, (x.shape[0],) + (1,) * (x.ndim - 1))
  return jnp.where(mask, x / keep, 0).astype(x.dtype)


class SwinBlock(nn.Module):
  """One (shifted) window-attention block on [B, H, W, C]."""
  dim: int
  num_heads: int
  window: int
  shift: int
  mlp_ratio: float = 4.0
  drop_path_rate: float = 0.0
  deterministic: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    b, h, w, c = x.shape
    ws, s = self.window, self.shift
    t = _layer_norm(self.dtype, "norm1")(x)
    hp, wp = -(-h // ws) * ws, -(-w // ws) * ws
    t = jnp.pad(t, ((0, 0), (0, hp - h), (0, wp - w), (0, 0)))   # zeros after the LN, unmasked.
    mask = None
    if s > 0:
      t = jnp.roll(t, (-s, -s), axis=(1, 2))
      mask = jnp.asarray(shift_attention_mask(hp, wp, ws, s))
    t = WindowAttention(c, self.num_heads, ws, dtype=self.dtype, name="attn")(
        _partition(t, ws), mask)
    t = _unpartition(t, ws, b, hp, wp)
    if s > 0:
      t = jnp.roll(t, (s, s), axis=(1, 2))
    x = x + drop_path(self, t[:, :h, :w], self.drop_path_rate, self.deterministic)
    y = Mlp(c, int(c * self.mlp_ratio), dtype=self.dtype, name="mlp")(
        _layer_norm(self.dtype, "norm2")(x))
    return x + drop_path(self, y, self.drop_path_rate, self.deterministic)


class PatchMerging(nn.Module):
  """`downsample`: 2x2 neighbours -> 4C (fixed order), LN, Linear 4C -> 2C (no bias)."""
  dim: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):  # [B, H, W, C] -> [B, ceil(H/2), ceil(W/2), 2C]
    h, w = x.shape[1:3]
    x = jnp.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
    x = jnp.concatenate([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2],
                         x[:, 1::2, 1::2]], axis=-1)
    x = _layer_norm(self.dtype, "norm")(x)
    return _dense(2 * self.dim, self.dtype, "reduction", use_bias=False)(x)


class BlockList(nn.Module):
  """`blocks`: blocks '0'..'n-1' applied in order (block factories given)."""
  blocks: Sequence[Callable[..., nn.Module]]

  @nn.compact
  def __call__(self, x):
    for j, block in enumerate(self.blocks):
      x = block(name=str(j))(x)
    return x


class SwinStage(nn.Module):
  """`layers/{i}` (BasicLayer): blocks, then optional patch merging.

  Returns (stage output before merging [B, H, W, C], merged [B, H/2, W/2, 2C] or None).
  """
  dim: int
  depth: int
  num_heads: int
  window: int
  mlp_ratio: float
  drop_path_rates: Tuple[float, ...]
  downsample: bool
  deterministic: bool = True
  remat: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    block_cls = nn.remat(SwinBlock) if self.remat else SwinBlock
    blocks = [functools.partial(
        block_cls, self.dim, self.num_heads, self.window,
        shift=0 if j % 2 == 0 else self.window // 2, mlp_ratio=self.mlp_ratio,
        drop_path_rate=self.drop_path_rates[j], deterministic=self.deterministic,
        dtype=self.dtype) for j in range(self.depth)]
    x = BlockList(blocks, name="blocks")(x)
    merged = PatchMerging(self.dim, dtype=self.dtype, name="downsample")(x) \
        if self.downsample else None
    return x, merged


class StageList(nn.Module):
  """`layers`: stages '0'..'3'; returns each stage's output before merging."""
  stages: Sequence[Callable[..., SwinStage]]

  @nn.compact
  def __call__(self, x):
    outs = []
    for i, stage in enumerate(self.stages):
      out, x = stage(name=str(i))(x)
      outs.append(out)
    return outs


class PatchEmbed(nn.Module):
  """`patch_embed`: pad to a patch multiple, Conv k=s=patch (bias), LN."""
  dim: int
  patch: int = 4
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):  # [B, H, W, 3] -> [B, H/4, W/4, C]
    h, w = x.shape[1:3]
    x = jnp.pad(x, ((0, 0), (0, -h % self.patch), (0, -w % self.patch), (0, 0)))
    fan_in = x.shape[-1] * self.patch * self.patch
    x = nn.Conv(self.dim, (self.patch, self.patch), strides=(self.patch, self.patch),
                padding="VALID", kernel_init=_torch_conv_kernel,
                bias_init=_torch_conv_bias(fan_in), dtype=self.dtype, name="proj")(x)
    return _layer_norm(self.dtype, "norm")(x)


class SwinTransformer(nn.Module):
  """Swin backbone returning norm0..3 of the 4 stage outputs (strides 4, 8, 16, 32).

  Attributes:
    embed_dims: C (128 Swin-B, 192 Swin-L); stage i has C * 2^i channels.
    depths, num_heads: blocks and heads per stage.
    window_size: attention window (7).
    mlp_ratio: MLP hidden width / C.
    drop_path_rate: stochastic depth of the last block (linear from 0 over all blocks).
    patch_size: patch embedding stride (4).
    remat: rematerialise each block in the backward pass (torch `with_cp`).
    dtype: compute dtype (params stay float32; softmax in float32).
  """
  embed_dims: int = 128
  depths: Sequence[int] = (2, 2, 18, 2)
  num_heads: Sequence[int] = (4, 8, 16, 32)
  window_size: int = 7
  mlp_ratio: float = 4.0
  drop_path_rate: float = 0.3
  patch_size: int = 4
  remat: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False) -> Tuple[jnp.ndarray, ...]:
    x = PatchEmbed(self.embed_dims, self.patch_size, dtype=self.dtype,
                   name="patch_embed")(x.astype(self.dtype))
    total = sum(self.depths)
    rates = [float(r) for r in np.linspace(0.0, self.drop_path_rate, total)]
    stages, start = [], 0
    for i, depth in enumerate(self.depths):
      stages.append(functools.partial(
          SwinStage, self.embed_dims * 2**i, depth, self.num_heads[i], self.window_size,
          self.mlp_ratio, tuple(rates[start:start + depth]),
          downsample=i < len(self.depths) - 1, deterministic=not train, remat=self.remat,
          dtype=self.dtype))
      start += depth
    outs = StageList(stages, name="layers")(x)
    return tuple(_layer_norm(self.dtype, f"norm{i}")(o) for i, o in enumerate(outs))

  @property
  def out_channels(self) -> Tuple[int, ...]:
    return tuple(self.embed_dims * 2**i for i in range(len(self.depths)))


def build_swin(backbone_config, dtype: Any = jnp.float32) -> SwinTransformer:
  """SwinTransformer from `config.model.backbone` (name='swin')."""
  b = backbone_config
  if len(b.depths) != len(b.num_heads):
    raise ValueError(f"config.model.backbone: depths {tuple(b.depths)} and num_heads "
                     f"{tuple(b.num_heads)} must have one entry per stage.")
  for i, heads in enumerate(b.num_heads):
    if (b.embed_dims * 2**i) % heads:
      raise ValueError(f"config.model.backbone: stage {i} width {b.embed_dims * 2**i} is not "
                       f"divisible by num_heads[{i}]={heads}.")
  return SwinTransformer(embed_dims=b.embed_dims, depths=tuple(b.depths),
                         num_heads=tuple(b.num_heads), window_size=b.window_size,
                         mlp_ratio=b.mlp_ratio, drop_path_rate=b.drop_path_rate,
                         patch_size=b.patch_size, remat=b.get("remat", False), dtype=dtype)


def frozen_param_filter(config) -> Callable[[Tuple[str, ...]], bool]:
  """`is_frozen(path)` for mmdet Swin `frozen_stages` (all shipped configs: -1, nothing).

  >= 0 freezes patch_embed; >= 2 also layers 0 .. frozen_stages - 2 (>= 1 would
  add the absolute position embedding, which these models do not have).
  """
  model_config = config.model if "model" in config else config
  frozen_stages = int(model_config.backbone.frozen_stages)
  frozen = set()
  if frozen_stages >= 0:
    frozen.add(("patch_embed",))
  frozen |= {("layers", str(i)) for i in range(frozen_stages - 1)}

  def is_frozen(path) -> bool:
    keys = path.split("/") if isinstance(path, str) else [getattr(k, "key", k) for k in path]
    keys = [str(k) for k in keys]
    if len(keys) < 2 or keys[0] != "backbone":
      return False
    return tuple(keys[1:2]) in frozen or tuple(keys[1:3]) in frozen

  return is_frozen
