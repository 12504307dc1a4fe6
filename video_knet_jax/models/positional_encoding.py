"""mmdet `SinePositionalEncoding` (normalize=True) for an unpadded feature map.

With an all-valid mask the cumulative sums are simply 1..H and 1..W:
  y = (i + 1) / (H + eps) * scale,  x = (j + 1) / (W + eps) * scale
  dim_t[k] = temperature ** (2 * (k // 2) / num_feats)
  per axis: channel k = sin(p / dim_t[k]) for even k, cos(p / dim_t[k]) for odd k
  output = concat(pos_y, pos_x) -> 2 * num_feats channels.
"""
import math

import jax.numpy as jnp


def sine_positional_encoding(height: int, width: int, num_feats: int,
                             temperature: float = 10000.0, scale: float = 2 * math.pi,
                             eps: float = 1e-6) -> jnp.ndarray:
  """Returns the [H, W, 2 * num_feats] encoding (float32)."""
  y = jnp.arange(1, height + 1, dtype=jnp.float32) / (height + eps) * scale  # [H]
  x = jnp.arange(1, width + 1, dtype=jnp.float32) / (width + eps) * scale    # [W]
  k = jnp.arange(num_feats)
  dim_t = jnp.asarray(temperature, jnp.float32) ** (2 * (k // 2) / num_feats)

  def encode(p):  # [L] -> [L, num_feats], interleaved sin/cos.
    a = p[:, None] / dim_t[None, :]
    return jnp.where(k % 2 == 0, jnp.sin(a), jnp.cos(a))

  pos_y = jnp.broadcast_to(encode(y)[:, None, :], (height, width, num_feats))
  pos_x = jnp.broadcast_to(encode(x)[None, :, :], (height, width, num_feats))
  return jnp.concatenate([pos_y, pos_x], axis=-1)
