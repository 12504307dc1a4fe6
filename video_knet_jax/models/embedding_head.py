"""Tracking embedding path (section 3.7): kernels -> association embeddings.

In the original, `embed_fcs` (Linear no-bias -> LN -> ReLU) and `fc_embed`
live on the detector itself, then the QDTrack-style `track_head` applies
fcs.0/fcs.1 (Linear + ReLU each) and its own `fc_embed`. The output is *not*
normalised (similarity = raw dot product). `VideoKNet` owns the first two
(top-level params `embed_fcs`, `fc_embed`); this file builds them.
"""
import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from video_knet_jax.models import containers
from video_knet_jax.models import conv_module

# torch nn.Linear default weight init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
TORCH_LINEAR_INIT = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def make_embed_fcs(channels: int, dtype: Any = jnp.float32) -> containers.Sequential:
  """`embed_fcs`: Linear(D, D, no bias) -> LN -> ReLU (assign to a setup attribute)."""
  return containers.Sequential(layers=(
      functools.partial(nn.Dense, channels, use_bias=False, kernel_init=TORCH_LINEAR_INIT,
                        dtype=dtype),
      functools.partial(nn.LayerNorm, epsilon=conv_module.NORM_EPS, dtype=dtype),
      nn.relu))


def make_fc_embed(channels: int, dtype: Any = jnp.float32) -> nn.Dense:
  """Detector-level `fc_embed`: Linear(D, D)."""
  return nn.Dense(channels, kernel_init=TORCH_LINEAR_INIT, dtype=dtype)


class TrackHead(nn.Module):
  """QuasiDense embed head with num_convs=0: fcs.{i} (Linear + ReLU), fc_embed.

  Attributes:
    fc_channels: width of the fcs.
    embed_channels: E.
    num_fcs: number of Linear + ReLU layers.
    dtype: compute dtype.
  """
  fc_channels: int = 256
  embed_channels: int = 256
  num_fcs: int = 2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):  # [..., D] -> [..., E]
    fc = functools.partial(nn.Dense, self.fc_channels, kernel_init=nn.initializers.xavier_uniform(),
                           dtype=self.dtype)
    x = containers.ModuleList(layers=[fc] * self.num_fcs, activation=nn.relu, name="fcs")(x)
    return nn.Dense(self.embed_channels, kernel_init=conv_module.normal_init(0.01),
                    dtype=self.dtype, name="fc_embed")(x)
