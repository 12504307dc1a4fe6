"""Temporal kernel layers: linking (section 3.5) and fusion (section 3.6).

Both are functions, not modules: torch registers these layers directly on the
stage head (`roi_head.mask_head.{s}.attention_previous...`), so they must be
called inside the stage head's compact `__call__` and create their layers in
that scope under the torch names.
"""
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from video_knet_jax.models import conv_module
from video_knet_jax.models import kernel_updator
from video_knet_jax.models import transformer_layers


def _norm(name: str, dtype: Any) -> nn.LayerNorm:
  return nn.LayerNorm(epsilon=conv_module.NORM_EPS, dtype=dtype, name=name)


def link_kernels(kernels: jnp.ndarray, previous: jnp.ndarray, *, num_heads: int,
                 ffn_channels: int, dtype: Any = jnp.float32) -> jnp.ndarray:
  """Kernel linking (`previous_type='ffn'`): current kernels attend to the previous frame's.

  kernels, previous: [B, N, D] -> track kernels [B, N, D]. Only the tracking
  embedding reads the result; masks and classes are unaffected.
    t = LN(K + MHA(q=K, k=v=K_prev)); K_track = LN(t + FFN(t))
  """
  d = kernels.shape[-1]
  xavier = nn.initializers.xavier_uniform()
  t = transformer_layers.MultiheadAttention(d, num_heads, dtype=dtype,
                                            name="attention_previous")(kernels, previous)
  t = _norm("attention_previous_norm", dtype)(kernels + t)
  f = transformer_layers.FFN(d, ffn_channels, kernel_init=xavier, dtype=dtype,
                             name="link_ffn")(t)
  return _norm("link_ffn_norm", dtype)(t + f)


def fuse_kernels(kernels: jnp.ndarray, previous: jnp.ndarray, assembled: jnp.ndarray, *,
                 num_heads: int, ffn_channels: int, dtype: Any = jnp.float32) -> jnp.ndarray:
  """Kernel fusion (`previous_link='update_dynamic_cov'`): previous kernels reshape the current.

  kernels, previous, assembled (the current frame's mask-pooled features):
  [B, N, D] -> fused kernels [B, N, D], used by the stage instead of `kernels`.
    K_p' = KernelUpdator(assembled, K_prev)
    c = LN(K + MHA(q=K, k=v=K_p')); K_fused = LN(c + FFN(c))
  """
  d = kernels.shape[-1]
  xavier = nn.initializers.xavier_uniform()
  prev = kernel_updator.KernelUpdator(d, d, kernel_init=xavier, dtype=dtype,
                                      name="attention_previous_update_link")(assembled, previous)
  c = transformer_layers.MultiheadAttention(d, num_heads, dtype=dtype,
                                            name="attention_previous_link")(kernels, prev)
  c = _norm("attention_previous_norm_link", dtype)(kernels + c)
  f = transformer_layers.FFN(d, ffn_channels, kernel_init=xavier, dtype=dtype,
                             name="link_ffn_link")(c)
  return _norm("link_ffn_norm_link", dtype)(c + f)
