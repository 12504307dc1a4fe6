"""mmdet FPN: lateral 1x1 convs, nearest top-down pathway, 3x3 output convs.

No norm, no activation, both convs with bias, Xavier-uniform init (mmdet
default); `num_outs == len(inputs)` (no extra levels), as in Video K-Net.
"""
import functools
from typing import Any, Sequence, Tuple

import flax.linen as nn
import jax.numpy as jnp

from video_knet_jax.models import containers
from video_knet_jax.models import conv_module
from video_knet_jax.models import resize


class FPN(nn.Module):
  """(C2..C5) -> (P2..P5), all with `out_channels` channels.

  Attributes:
    out_channels: output width (256).
    num_outs: number of outputs; must equal the number of inputs here.
    dtype: compute dtype.
  """
  out_channels: int = 256
  num_outs: int = 4
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, feats: Sequence[jnp.ndarray]) -> Tuple[jnp.ndarray, ...]:
    if len(feats) != self.num_outs:
      raise ValueError(f"config.model.fpn.num_outs={self.num_outs} but the backbone gives "
                       f"{len(feats)} levels; extra FPN levels are not implemented.")
    conv = functools.partial(conv_module.ConvModule, self.out_channels, use_bias=True,
                             activation=False, kernel_init=nn.initializers.xavier_uniform(),
                             dtype=self.dtype)
    n = len(feats)
    laterals = containers.ModuleList(
        layers=[functools.partial(conv, kernel_size=1)] * n, parallel=True,
        name="lateral_convs")(list(feats))
    for i in range(n - 1, 0, -1):  # top-down: add the upsampled coarser level.
      laterals[i - 1] = laterals[i - 1] + resize.resize_nearest_nhwc(
          laterals[i], laterals[i - 1].shape[1:3])
    outs = containers.ModuleList(
        layers=[functools.partial(conv, kernel_size=3)] * n, parallel=True,
        name="fpn_convs")(laterals)
    return tuple(outs)
