"""K-Net `KernelUpdator`: gated fusion of assembled features and kernels.

Section 3.4 step 6 (gate_sigmoid=True, gate_norm_act=False, activate_out=False):
  P = dynamic_layer(F);  I = input_layer(K)          (each split into _in, _out)
  G = I_in * P_in
  g_in  = sigmoid(input_norm_in(input_gate(G)))     gates the kernel term
  g_upd = sigmoid(norm_in(update_gate(G)))          gates the feature term
  K' = g_upd * norm_out(P_out) + g_in * input_norm_out(I_out)
  K' = relu(fc_norm(fc_layer(K')))

With `in_channels` narrower than the inputs (semantic K-Net: rows of 256 for
512-d kernels) each kernel is processed as independent `in_channels`-wide
rows with shared weights and the rows are concatenated back, as mmcv's
KernelUpdator does after its `reshape(-1, in_channels)`.
"""
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from video_knet_jax.models import conv_module


class KernelUpdator(nn.Module):
  """(F [..., D], K [..., D]) -> updated kernels [..., out_channels].

  Attributes:
    feat_channels: gate width (D).
    out_channels: output width.
    kernel_init: initializer of every Linear (xavier_uniform in the heads).
    in_channels: row width (None = the whole last axis, the Video K-Net case).
    dtype: compute dtype.
  """
  feat_channels: int = 256
  out_channels: int = 256
  kernel_init: Any = nn.initializers.xavier_uniform()
  in_channels: Optional[int] = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, feats: jnp.ndarray, kernels: jnp.ndarray) -> jnp.ndarray:
    width = kernels.shape[-1]
    rows = self.in_channels
    if rows is not None and rows != width:
      if width % rows or feats.shape[-1] != width:
        raise ValueError(f"KernelUpdator {self.name}: inputs {feats.shape}, {kernels.shape} "
                         f"cannot be split into rows of in_channels={rows}.")
      # [..., D] -> [..., D / rows, rows]; rows share the weights.
      split = lambda a: a.reshape(*a.shape[:-1], width // rows, rows)
      out = self._update(split(feats), split(kernels))
      return out.reshape(*out.shape[:-2], -1)
    return self._update(feats, kernels)

  def _update(self, feats: jnp.ndarray, kernels: jnp.ndarray) -> jnp.ndarray:
    d = self.feat_channels
    dense = lambda n, name: nn.Dense(n, kernel_init=self.kernel_init, dtype=self.dtype,
                                     name=name)
    norm = lambda name: nn.LayerNorm(epsilon=conv_module.NORM_EPS, dtype=self.dtype, name=name)
    params = dense(2 * d, "dynamic_layer")(feats)
    param_in, param_out = params[..., :d], params[..., d:]
    inputs = dense(2 * d, "input_layer")(kernels)
    input_in, input_out = inputs[..., :d], inputs[..., d:]
    gate_feats = input_in * param_in
    input_gate = jax.nn.sigmoid(norm("input_norm_in")(dense(d, "input_gate")(gate_feats)))
    update_gate = jax.nn.sigmoid(norm("norm_in")(dense(d, "update_gate")(gate_feats)))
    param_out = norm("norm_out")(param_out)
    input_out = norm("input_norm_out")(input_out)
    out = update_gate * param_out + input_gate * input_out
    out = dense(self.out_channels, "fc_layer")(out)
    return nn.relu(norm("fc_norm")(out))
