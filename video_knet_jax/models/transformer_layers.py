"""mmcv transformer bricks with torch-compatible parameter paths.

`MultiheadAttention` mirrors the mmcv wrapper: a Flax
`MultiHeadDotProductAttention` child named 'attn' (the converter splits torch's
packed in_proj into query/key/value). `FFN` mirrors mmcv FFN(num_fcs=2):
layers/0/0 (Linear E->F) + ReLU, layers/1 (Linear F->E); residual and norm are
applied by the caller (post-LN, as in K-Net).
"""
import functools
import math
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from video_knet_jax.models import containers


def _uniform(bound: float):
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


def torch_xavier_qkv(embed_dims: int):
  """xavier_uniform of torch's packed in_proj_weight [3E, E], per q/k/v block."""
  return _uniform(math.sqrt(6.0 / (embed_dims + 3 * embed_dims)))


def torch_xavier_out(embed_dims: int):
  """xavier_uniform of out_proj.weight [E, E] (Flax layout [H, E/H, E])."""
  return _uniform(math.sqrt(6.0 / (2 * embed_dims)))


class MultiheadAttention(nn.Module):
  """Multi-head attention over [B, L, E] (batch-first; no masks, no dropout).

  Attributes:
    embed_dims: E.
    num_heads: heads; head blocks are contiguous E/H channel slices (torch).
    xavier: torch-style xavier_uniform init (the K-Net heads); else Flax default.
    dtype: compute dtype.
  """
  embed_dims: int = 256
  num_heads: int = 8
  xavier: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, query, key=None, value=None):
    key = query if key is None else key
    value = key if value is None else value
    kwargs = {}
    if self.xavier:
      kwargs = dict(kernel_init=torch_xavier_qkv(self.embed_dims),
                    out_kernel_init=torch_xavier_out(self.embed_dims))
    return nn.MultiHeadDotProductAttention(
        num_heads=self.num_heads, qkv_features=self.embed_dims, out_features=self.embed_dims,
        use_bias=True, deterministic=True, dtype=self.dtype, force_fp32_for_softmax=True,
        name="attn", **kwargs)(
            query, key, value)


class FFN(nn.Module):
  """Linear(E->F) -> ReLU -> Linear(F->E) under torch paths layers/0/0, layers/1."""
  embed_dims: int = 256
  feedforward_channels: int = 2048
  kernel_init: Optional[Any] = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    kw = {} if self.kernel_init is None else {"kernel_init": self.kernel_init}
    dense = functools.partial(nn.Dense, dtype=self.dtype, **kw)
    return containers.Sequential(layers=(
        functools.partial(containers.Sequential, layers=(
            functools.partial(dense, self.feedforward_channels), nn.relu)),
        functools.partial(dense, self.embed_dims),
    ), name="layers")(x)
