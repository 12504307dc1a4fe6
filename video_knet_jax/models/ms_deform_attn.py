"""Multi-scale deformable attention (Deformable DETR; mmcv `MultiScaleDeformableAttention`).

Every query looks at P points on each of L feature levels, per head h:

  loc[b, q, h, l, p]  = ref[b, q, l] + offset[b, q, h, l, p] / (W_l, H_l)   (x, y in [0, 1])
  a[b, q, h, :, :]    = softmax over the L * P logits of (b, q, h)
  out[b, q, h]        = sum_{l, p} a[b, q, h, l, p] * bilinear(V_l[b, :, :, h], loc[b, q, h, l, p])

`bilinear` is `F.grid_sample(mode='bilinear', padding_mode='zeros',
align_corners=False)` at 2 * loc - 1: pixel coordinates (x W_l - 0.5, y H_l - 0.5),
and each of the 4 neighbours outside the map counts as 0.

Written by hand (pure jnp, no custom op): no installable JAX library has it
(Scenic's Deformable DETR is not on PyPI). Two equivalent sampling forms:

* 'gather': the 2x2 neighbourhood of every point fetched as one window of the
  zero-padded map, [B, H, Q, L*P*4, Dh], then weighted; O(Q L P Dh) work, its
  gradient a scatter-add. The default (faster on CPU, docs/BENCHMARKS.md).
* 'one_hot': per level a dense [Q, H_l W_l] matrix of bilinear x attention weights
  times V_l; O(Q S Dh) multiply-adds, but matmuls only (no gather/scatter), the
  form a TPU's matrix unit takes; queries go in chunks to bound memory.
"""
import math
from typing import Any, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

SpatialShapes = Sequence[Tuple[int, int]]   # static (H_l, W_l) per level.
GATHER = "gather"
ONE_HOT = "one_hot"
METHODS = (GATHER, ONE_HOT)
# 'one_hot' processes this many queries at a time ([B, H, chunk, H_l W_l] per level).
ONE_HOT_QUERY_CHUNK = 256


def level_start_index(spatial_shapes: SpatialShapes) -> np.ndarray:
  """[L] offset of each level in the flattened value: 0, H_0 W_0, H_0 W_0 + H_1 W_1, ..."""
  sizes = [h * w for h, w in spatial_shapes]
  return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


def _bilinear_patches(height: int, width: int, locations: jnp.ndarray,
                      attention_weights: jnp.ndarray):
  """The 2x2 neighbourhood of every sampling point on one level.

  locations [B, H, Q, P, 2] (x, y in [0, 1]), attention_weights [B, H, Q, P] ->
  (top [B, H, Q, P], left [B, H, Q, P] int32: the neighbourhood's top-left pixel
  in the map padded by one zero pixel on every side, clipped to [0, height] /
  [0, width]; weight [B, H, Q, P, 2, 2]: bilinear x attention weights, 0 for
  neighbours off the map, so clipping never picks up a wrong pixel).
  """
  x = locations[..., 0].astype(jnp.float32) * width - 0.5
  y = locations[..., 1].astype(jnp.float32) * height - 0.5
  x0, y0 = jnp.floor(x), jnp.floor(y)
  fx, fy = x - x0, y - y0                                   # d/dx fx = 1 (floor is flat).
  a = attention_weights.astype(jnp.float32)
  rows = []
  for dy in (0, 1):
    cols = []
    for dx in (0, 1):
      xi, yi = x0 + dx, y0 + dy
      inside = (xi >= 0) & (xi <= width - 1) & (yi >= 0) & (yi <= height - 1)
      w = (fx if dx else 1 - fx) * (fy if dy else 1 - fy)
      cols.append(jnp.where(inside, w * a, 0.0))
    rows.append(jnp.stack(cols, -1))
  top = jnp.clip(y0 + 1, 0, height).astype(jnp.int32)
  left = jnp.clip(x0 + 1, 0, width).astype(jnp.int32)
  return top, left, jnp.stack(rows, -2)


def _levels(value, spatial_shapes):
  """value [B, S, H, Dh] -> per level [B, H, H_l, W_l, Dh]."""
  b, _, h, dh = value.shape
  return [value[:, s:s + hl * wl].reshape(b, hl, wl, h, dh).transpose(0, 3, 1, 2, 4)
          for s, (hl, wl) in zip(level_start_index(spatial_shapes), spatial_shapes)]


def _sample_gather(level_value, top, left, weight):
  """Gather form on one level: level_value [B, H, H_l, W_l, Dh]; top, left [B, H, Q, P];
  weight [B, H, Q, P, 2, 2] -> [B, H, Q, Dh].

  One gather of 2x2xDh windows per point from the zero-padded map (4x fewer
  indices than one per neighbour; measured faster on XLA:CPU, docs/BENCHMARKS.md).
  """
  b, h, q, p = top.shape
  dh = level_value.shape[-1]
  padded = jnp.pad(level_value, ((0, 0), (0, 0), (1, 1), (1, 1), (0, 0)))
  window = lambda table, y, x: jax.lax.dynamic_slice(table, (y, x, 0), (2, 2, dh))
  per_map = lambda table, ys, xs: jax.vmap(lambda y, x: window(table, y, x))(ys, xs)
  patches = jax.vmap(jax.vmap(per_map))(padded, top.reshape(b, h, -1), left.reshape(b, h, -1))
  patches = patches.reshape(b, h, q, p * 4, dh)                   # [B, H, Q, P*4, Dh]
  return jnp.einsum("bhqk,bhqkd->bhqd", weight.reshape(b, h, q, -1).astype(patches.dtype),
                    patches)


def _sample_one_hot(level_value, top, left, weight, chunk):
  """One-hot/matmul form on one level, same arguments and result as `_sample_gather`."""
  b, h, hl, wl, dh = level_value.shape
  q, p = top.shape[2:]
  table = level_value.reshape(b, h, hl * wl, dh)
  # Flat index of each of the 4 neighbours (clipped; off-map ones weigh 0).
  ys = top[..., None, None] - 1 + jnp.arange(2)[:, None]          # [B, H, Q, P, 2, 1]
  xs = left[..., None, None] - 1 + jnp.arange(2)[None, :]         # [B, H, Q, P, 1, 2]
  index = jnp.clip(ys, 0, hl - 1) * wl + jnp.clip(xs, 0, wl - 1)  # [B, H, Q, P, 2, 2]
  index = index.reshape(b, h, q, p * 4)
  weight = weight.reshape(b, h, q, p * 4)
  positions = jnp.arange(hl * wl, dtype=jnp.int32)

  @jax.checkpoint   # the backward recomputes the comparisons instead of storing them.
  def rows(idx, wgt):
    """idx, wgt [B, H, c, K] -> [B, H, c, Dh] for c queries."""
    # A[b, h, q, s] = sum_k wgt_k [idx_k == s]: a compare-and-sum that XLA fuses,
    # so the [.., K, S_l] one-hot is never stored.
    a = jnp.sum(jnp.where(idx[..., None] == positions, wgt[..., None], 0.0), axis=-2)
    return jnp.einsum("bhqs,bhsd->bhqd", a.astype(table.dtype), table)

  if q <= chunk:
    return rows(index, weight)
  pad = -q % chunk                                                # padded queries weigh 0.
  index = jnp.pad(index, ((0, 0), (0, 0), (0, pad), (0, 0)))
  weight = jnp.pad(weight, ((0, 0), (0, 0), (0, pad), (0, 0)))
  n = (q + pad) // chunk
  split = lambda x: jnp.moveaxis(x.reshape(b, h, n, chunk, -1), 2, 0)
  out = jax.lax.map(lambda args: rows(*args), (split(index), split(weight)))  # [n, B, H, c, Dh]
  return jnp.moveaxis(out, 0, 2).reshape(b, h, n * chunk, dh)[:, :, :q]


def multi_scale_deformable_attention(value: jnp.ndarray, spatial_shapes: SpatialShapes,
                                     sampling_locations: jnp.ndarray,
                                     attention_weights: jnp.ndarray, *,
                                     method: str = GATHER,
                                     query_chunk: int = ONE_HOT_QUERY_CHUNK) -> jnp.ndarray:
  """mmcv `multi_scale_deformable_attn_pytorch`, batched, static shapes.

  Args:
    value: [B, S, H, Dh], the levels' maps flattened row-major and concatenated,
      S = sum_l H_l W_l.
    spatial_shapes: static ((H_0, W_0), ...), one per level.
    sampling_locations: [B, Q, H, L, P, 2] normalised (x, y); 0 and 1 are the outer
      pixel edges.
    attention_weights: [B, Q, H, L, P] (softmax-normalised by the caller).
    method: 'gather' or 'one_hot' (same numbers; see the module docstring).
    query_chunk: queries per step of the 'one_hot' form.

  Returns:
    [B, Q, H * Dh], heads concatenated (head-major, as mmcv).
  """
  if method not in METHODS:
    raise ValueError(f"Deformable attention method {method!r}; expected one of {METHODS}.")
  b, s, h, dh = value.shape
  if sum(hl * wl for hl, wl in spatial_shapes) != s:
    raise ValueError(f"value has {s} positions but spatial_shapes {tuple(spatial_shapes)} "
                     f"give {sum(hl * wl for hl, wl in spatial_shapes)}.")
  if sampling_locations.shape[3] != len(spatial_shapes):
    raise ValueError(f"sampling_locations {sampling_locations.shape} have "
                     f"{sampling_locations.shape[3]} levels; spatial_shapes has "
                     f"{len(spatial_shapes)}.")
  out = 0.0
  for level, ((hl, wl), level_value) in enumerate(zip(spatial_shapes,
                                                      _levels(value, spatial_shapes))):
    # [B, Q, H, P, ...] -> [B, H, Q, P, ...]: heads beside batch, as the value maps.
    locations = jnp.swapaxes(sampling_locations[:, :, :, level], 1, 2)
    top, left, weight = _bilinear_patches(
        hl, wl, locations, jnp.swapaxes(attention_weights[:, :, :, level], 1, 2))
    if method == GATHER:
      out = out + _sample_gather(level_value, top, left, weight)
    else:
      out = out + _sample_one_hot(level_value, top, left, weight, query_chunk)
  return jnp.swapaxes(out, 1, 2).reshape(b, -1, h * dh)              # [B, Q, H*Dh]


def sampling_offset_bias(num_heads: int, num_levels: int, num_points: int) -> np.ndarray:
  """mmcv's `sampling_offsets.bias` init: head h points along angle 2 pi h / H, the
  direction scaled so its larger |component| is 1, point p at (p + 1) times it.
  Returns [H * L * P * 2] in the (head, level, point, xy) order of the Linear output."""
  theta = np.arange(num_heads, dtype=np.float32) * (2.0 * math.pi / num_heads)
  grid = np.stack([np.cos(theta), np.sin(theta)], -1)
  grid = grid / np.abs(grid).max(-1, keepdims=True)
  grid = np.tile(grid[:, None, None, :], (1, num_levels, num_points, 1))
  grid = grid * np.arange(1, num_points + 1, dtype=np.float32)[None, None, :, None]
  return grid.reshape(-1).astype(np.float32)


class MultiScaleDeformableAttention(nn.Module):
  """mmcv `MultiScaleDeformableAttention` (batch-first, 2-d reference points, no dropout).

  Children mirror the torch names: `sampling_offsets` (D -> H*L*P*2),
  `attention_weights` (D -> H*L*P), `value_proj`, `output_proj` (D -> D), all
  Dense with bias, initialised as mmcv's `init_weights`.

  Attributes:
    embed_dims: D.
    num_heads: H; D / H channels per head.
    num_levels: L.
    num_points: P per head and level.
    method: sampling form, 'gather' or 'one_hot'.
    query_chunk: queries per step of the 'one_hot' form.
    dtype: compute dtype of the projections and the sampled values; locations,
      bilinear and attention weights stay float32 (bf16 would move points by
      up to ~0.5 pixel on a 100-pixel map).
  """
  embed_dims: int = 256
  num_heads: int = 8
  num_levels: int = 4
  num_points: int = 4
  method: str = GATHER
  query_chunk: int = ONE_HOT_QUERY_CHUNK
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, query: jnp.ndarray, reference_points: jnp.ndarray,
               spatial_shapes: SpatialShapes, value: Optional[jnp.ndarray] = None,
               query_pos: Optional[jnp.ndarray] = None) -> jnp.ndarray:
    """query [B, Q, D], reference_points [B or 1, Q, L, 2] (x, y in [0, 1]),
    value [B, S, D] (default: query), query_pos [B or 1, Q, D] added to the
    query only -> attention output + query (the residual), [B, Q, D]."""
    d, heads, levels, points = self.embed_dims, self.num_heads, self.num_levels, self.num_points
    if d % heads:
      raise ValueError(f"embed_dims={d} is not divisible by num_heads={heads}.")
    if len(spatial_shapes) != levels:
      raise ValueError(f"{len(spatial_shapes)} feature levels given; num_levels={levels}.")
    identity = query
    value = query if value is None else value
    if query_pos is not None:
      query = query + query_pos
    b, q, _ = query.shape
    xavier = nn.initializers.xavier_uniform()
    dense = lambda n, name, **kw: nn.Dense(n, dtype=self.dtype, name=name, **kw)
    v = dense(d, "value_proj", kernel_init=xavier)(value)
    v = v.reshape(b, v.shape[1], heads, d // heads)
    bias = sampling_offset_bias(heads, levels, points)
    offsets = dense(heads * levels * points * 2, "sampling_offsets",
                    kernel_init=nn.initializers.zeros,
                    bias_init=lambda *_: jnp.asarray(bias))(query)
    offsets = offsets.astype(jnp.float32).reshape(b, q, heads, levels, points, 2)
    logits = dense(heads * levels * points, "attention_weights",
                   kernel_init=nn.initializers.zeros)(query)
    weights = jax.nn.softmax(logits.astype(jnp.float32).reshape(b, q, heads, levels * points))
    weights = weights.reshape(b, q, heads, levels, points)
    # Offsets are in pixels of each level: divide by (W_l, H_l).
    normalizer = jnp.asarray([[w, h] for h, w in spatial_shapes], jnp.float32)  # [L, 2]
    locations = (reference_points.astype(jnp.float32)[:, :, None, :, None, :]
                 + offsets / normalizer[None, None, None, :, None, :])
    out = multi_scale_deformable_attention(v, spatial_shapes, locations, weights,
                                           method=self.method, query_chunk=self.query_chunk)
    return dense(d, "output_proj", kernel_init=xavier)(out.astype(self.dtype)) + identity
