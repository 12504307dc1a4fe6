"""Temporal kernel layers: linking (section 3.5) and fusion (section 3.6).

Two tracking links exist in the original: `previous_type='ffn'` (R50 configs,
`link_kernels`, layers `attention_previous*`/`link_ffn*`) and
`previous_type='update'` (Swin configs, `update_link_kernels`, suffix
`_track`, which first updates the previous kernels with the current frame's
assembled features). Fusion (`fuse_kernels`, suffix `_link`) is the Swin
configs' `previous_link='update_dynamic_cov'`.

Both are functions, not modules: torch registers these layers directly on the
stage head (`roi_head.mask_head.{s}.attention_previous...`), so they must be
called inside the stage head's compact `__call__` and create their layers in
that scope under the torch names.
"""
from typing import Any, Optional

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
  return _attend_then_ffn(kernels, previous, suffix="",
                          num_heads=num_heads, ffn_channels=ffn_channels, dtype=dtype)


def fuse_kernels(kernels: jnp.ndarray, previous: jnp.ndarray, assembled: jnp.ndarray, *,
                 num_heads: int, ffn_channels: int, dtype: Any = jnp.float32,
                 updator_rows: Optional[int] = None, update: bool = True) -> jnp.ndarray:
  """Kernel fusion (`previous_link='update_dynamic_cov'`): previous kernels reshape the current.

  kernels, previous, assembled (the current frame's mask-pooled features):
  [B, N, D] -> fused kernels [B, N, D], used by the stage instead of `kernels`.
    K_p' = KernelUpdator(assembled, K_prev)
    c = LN(K + MHA(q=K, k=v=K_p')); K_fused = LN(c + FFN(c))
  `updator_rows`: the updator's row width (semantic K-Net splits 512 into 256).
  `update=False`: fusion without the update (`previous_link='link_atten'`, the
  paper's "without update" ablation): K_p' = K_prev, no
  `attention_previous_update_link` layer.
  """
  if not update:
    return _attend_then_ffn(kernels, previous, suffix="_link", num_heads=num_heads,
                            ffn_channels=ffn_channels, dtype=dtype)
  return _update_attend_then_ffn(kernels, previous, assembled, suffix="_link",
                                 num_heads=num_heads, ffn_channels=ffn_channels, dtype=dtype,
                                 updator_rows=updator_rows)


def update_link_kernels(kernels: jnp.ndarray, previous: jnp.ndarray, assembled: jnp.ndarray, *,
                        num_heads: int, ffn_channels: int, dtype: Any = jnp.float32
                        ) -> jnp.ndarray:
  """Kernel linking `previous_type='update'` (Swin configs; extensions section 2.2 (b)).

  kernels (the stage's output kernels `obj`), previous (the *unfused* previous
  kernels), assembled: [B, N, D] -> track kernels [B, N, D].
    P_t = KernelUpdator_track(assembled, K_prev)
    t = LN(K + MHA(q=K, k=v=P_t)); K_track = LN(t + FFN(t))
  """
  return _update_attend_then_ffn(kernels, previous, assembled, suffix="_track",
                                 num_heads=num_heads, ffn_channels=ffn_channels, dtype=dtype)


def _update_attend_then_ffn(query, previous, assembled, *, suffix: str, num_heads: int,
                            ffn_channels: int, dtype: Any,
                            updator_rows: Optional[int] = None) -> jnp.ndarray:
  """`attention_previous_update{suffix}` updates `previous` with `assembled`, then attend + FFN."""
  rows = updator_rows or query.shape[-1]
  prev = kernel_updator.KernelUpdator(rows, rows, kernel_init=nn.initializers.xavier_uniform(),
                                      in_channels=updator_rows, dtype=dtype,
                                      name="attention_previous_update" + suffix)(assembled, previous)
  return _attend_then_ffn(query, prev, suffix=suffix,
                          num_heads=num_heads, ffn_channels=ffn_channels, dtype=dtype)


def _attend_then_ffn(query, memory, *, suffix: str, num_heads: int, ffn_channels: int,
                     dtype: Any) -> jnp.ndarray:
  """t = LN(q + MHA(q, k=v=memory)); LN(t + FFN(t)), with the original's layer names.

  Layers: `attention_previous{suffix}`, `attention_previous_norm{suffix}`,
  `link_ffn{suffix}`, `link_ffn_norm{suffix}` (suffix '' = ffn linking, '_track' =
  update linking, '_link' = fusion).
  """
  d = query.shape[-1]
  t = transformer_layers.MultiheadAttention(d, num_heads, dtype=dtype,
                                            name="attention_previous" + suffix)(query, memory)
  t = _norm("attention_previous_norm" + suffix, dtype)(query + t)
  f = transformer_layers.FFN(d, ffn_channels, kernel_init=nn.initializers.xavier_uniform(),
                             dtype=dtype, name="link_ffn" + suffix)(t)
  return _norm("link_ffn_norm" + suffix, dtype)(t + f)
