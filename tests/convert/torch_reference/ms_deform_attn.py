"""mmcv 1.7 multi-scale deformable attention in plain PyTorch (test-only reference).

Written from the definition of mmcv's `multi_scale_deformable_attn_pytorch` (the
grid_sample form its CPU path runs) and `MultiScaleDeformableAttention`
(batch_first=False, 2-d reference points, dropout 0), with its parameter names.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F


def multi_scale_deformable_attn_pytorch(value, spatial_shapes, sampling_locations,
                                        attention_weights):
  """value [B, S, H, Dh], spatial_shapes [(H_l, W_l)], sampling_locations
  [B, Q, H, L, P, 2], attention_weights [B, Q, H, L, P] -> [B, Q, H * Dh]."""
  bs, _, num_heads, dims = value.shape
  _, num_queries, _, num_levels, num_points, _ = sampling_locations.shape
  value_list = value.split([int(h) * int(w) for h, w in spatial_shapes], dim=1)
  grids = 2 * sampling_locations - 1
  sampled = []
  for level, (h, w) in enumerate(spatial_shapes):
    # [B, h*w, H, Dh] -> [B*H, Dh, h, w]
    v = value_list[level].flatten(2).transpose(1, 2).reshape(bs * num_heads, dims, int(h), int(w))
    # [B, Q, H, P, 2] -> [B*H, Q, P, 2]
    g = grids[:, :, :, level].transpose(1, 2).flatten(0, 1)
    sampled.append(F.grid_sample(v, g, mode="bilinear", padding_mode="zeros",
                                 align_corners=False))        # [B*H, Dh, Q, P]
  weights = attention_weights.transpose(1, 2).reshape(bs * num_heads, 1, num_queries,
                                                      num_levels * num_points)
  out = (torch.stack(sampled, dim=-2).flatten(-2) * weights).sum(-1)
  return out.view(bs, num_heads * dims, num_queries).transpose(1, 2).contiguous()


class MultiScaleDeformableAttention(nn.Module):
  """Queries/values sequence-first [N, B, D]; returns output + identity."""

  def __init__(self, embed_dims=256, num_heads=8, num_levels=4, num_points=4):
    super().__init__()
    self.embed_dims, self.num_heads = embed_dims, num_heads
    self.num_levels, self.num_points = num_levels, num_points
    self.sampling_offsets = nn.Linear(embed_dims, num_heads * num_levels * num_points * 2)
    self.attention_weights = nn.Linear(embed_dims, num_heads * num_levels * num_points)
    self.value_proj = nn.Linear(embed_dims, embed_dims)
    self.output_proj = nn.Linear(embed_dims, embed_dims)
    self.init_weights()

  def init_weights(self):
    nn.init.zeros_(self.sampling_offsets.weight)
    thetas = torch.arange(self.num_heads, dtype=torch.float32) * (2.0 * math.pi / self.num_heads)
    grid = torch.stack([thetas.cos(), thetas.sin()], -1)
    grid = (grid / grid.abs().max(-1, keepdim=True)[0]).view(self.num_heads, 1, 1, 2).repeat(
        1, self.num_levels, self.num_points, 1)
    for i in range(self.num_points):
      grid[:, :, i, :] *= i + 1
    with torch.no_grad():
      self.sampling_offsets.bias.copy_(grid.view(-1))
    nn.init.zeros_(self.attention_weights.weight)
    nn.init.zeros_(self.attention_weights.bias)
    for lin in (self.value_proj, self.output_proj):
      nn.init.xavier_uniform_(lin.weight)
      nn.init.zeros_(lin.bias)

  def forward(self, query, value=None, identity=None, query_pos=None, reference_points=None,
              spatial_shapes=None):
    value = query if value is None else value
    identity = query if identity is None else identity
    if query_pos is not None:
      query = query + query_pos
    query, value = query.permute(1, 0, 2), value.permute(1, 0, 2)
    bs, num_query, _ = query.shape
    num_value = value.shape[1]
    value = self.value_proj(value).view(bs, num_value, self.num_heads, -1)
    offsets = self.sampling_offsets(query).view(bs, num_query, self.num_heads, self.num_levels,
                                                self.num_points, 2)
    weights = self.attention_weights(query).view(bs, num_query, self.num_heads,
                                                 self.num_levels * self.num_points)
    weights = weights.softmax(-1).view(bs, num_query, self.num_heads, self.num_levels,
                                       self.num_points)
    shapes = torch.as_tensor(spatial_shapes, dtype=torch.float32)
    normalizer = torch.stack([shapes[:, 1], shapes[:, 0]], -1)
    locations = (reference_points[:, :, None, :, None, :]
                 + offsets / normalizer[None, None, None, :, None, :])
    out = multi_scale_deformable_attn_pytorch(value, spatial_shapes, locations, weights)
    out = self.output_proj(out).permute(1, 0, 2)
    return out + identity
