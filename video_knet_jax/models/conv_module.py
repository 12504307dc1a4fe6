"""mmcv `ConvModule`: conv -> optional GroupNorm -> optional ReLU.

Children are named 'conv' and 'gn' as in the torch state_dict. Padding is
explicit and symmetric (torch semantics; 'SAME' differs for stride 2).
"""
from typing import Any, Callable, Optional

import flax.linen as nn
import jax.numpy as jnp

NORM_EPS = 1e-5  # torch GroupNorm / LayerNorm / BatchNorm default.


def normal_init(std: float) -> Callable[..., Any]:
  """torch `nn.init.normal_(w, 0, std)`."""
  return nn.initializers.normal(stddev=std)


class ConvModule(nn.Module):
  """Conv (+GN) (+ReLU), NHWC in and out.

  Attributes:
    features: output channels.
    kernel_size: square kernel size.
    stride: square stride.
    padding: symmetric padding; defaults to kernel_size // 2.
    use_bias: conv bias (mmcv drops it when a norm follows).
    num_groups: GroupNorm groups; None = no norm.
    activation: apply ReLU at the end.
    kernel_init: conv kernel initializer (HWIO).
    dtype: compute dtype.
  """
  features: int
  kernel_size: int = 1
  stride: int = 1
  padding: Optional[int] = None
  use_bias: bool = False
  num_groups: Optional[int] = None
  activation: bool = True
  kernel_init: Callable[..., Any] = nn.initializers.lecun_normal()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):  # [B, H, W, Cin] -> [B, H', W', features]
    pad = self.kernel_size // 2 if self.padding is None else self.padding
    x = nn.Conv(self.features, (self.kernel_size, self.kernel_size),
                strides=(self.stride, self.stride), padding=((pad, pad), (pad, pad)),
                use_bias=self.use_bias, kernel_init=self.kernel_init,
                dtype=self.dtype, name="conv")(x)
    if self.num_groups is not None:
      if self.features % self.num_groups:
        raise ValueError(f"ConvModule {self.name}: {self.features} channels are not "
                         f"divisible by num_groups={self.num_groups}.")
      x = nn.GroupNorm(num_groups=self.num_groups, epsilon=NORM_EPS, dtype=self.dtype,
                       name="gn")(x)
    if self.activation:
      x = nn.relu(x)
    return x
