"""The original's MSDeformAttnPixelDecoder in plain PyTorch (test-only reference).

Written from knet/det/msdeformattn_decoder.py and the mmcv 1.7 / mmdet 2.18 bricks
it builds (ConvModule with GN, DetrTransformerEncoder of BaseTransformerLayer
(self_attn, norm, ffn, norm), FFN(num_fcs=2), SinePositionalEncoding(normalize),
MlvlPointGenerator(offset 0.5)), with the original's parameter names.
"""
import torch
from torch import nn
from torch.nn import functional as F

from tests.convert.torch_reference import backbone_neck
from tests.convert.torch_reference import kernel_head
from tests.convert.torch_reference import ms_deform_attn


class FFN(nn.Module):
  """mmcv FFN(num_fcs=2): layers = Seq(Seq(Linear, ReLU, Dropout), Linear, Dropout) + identity."""

  def __init__(self, dims, hidden):
    super().__init__()
    self.layers = nn.Sequential(nn.Sequential(nn.Linear(dims, hidden), nn.ReLU(), nn.Dropout(0.0)),
                                nn.Linear(hidden, dims), nn.Dropout(0.0))

  def forward(self, x):
    return x + self.layers(x)


class EncoderLayer(nn.Module):
  """BaseTransformerLayer, operation_order (self_attn, norm, ffn, norm); sequence-first."""

  def __init__(self, dims, heads, levels, points, hidden):
    super().__init__()
    self.attentions = nn.ModuleList([ms_deform_attn.MultiScaleDeformableAttention(
        dims, heads, levels, points)])
    self.ffns = nn.ModuleList([FFN(dims, hidden)])
    self.norms = nn.ModuleList([nn.LayerNorm(dims), nn.LayerNorm(dims)])

  def forward(self, query, query_pos, reference_points, spatial_shapes):
    query = self.attentions[0](query, query_pos=query_pos, reference_points=reference_points,
                               spatial_shapes=spatial_shapes)
    query = self.norms[0](query)
    return self.norms[1](self.ffns[0](query))


class Encoder(nn.Module):

  def __init__(self, num_layers, **kw):
    super().__init__()
    self.layers = nn.ModuleList([EncoderLayer(**kw) for _ in range(num_layers)])

  def forward(self, query, **kw):
    for layer in self.layers:
      query = layer(query, **kw)
    return query


def grid_priors(h, w, stride):
  """MlvlPointGenerator.single_level_grid_priors (offset 0.5): [h*w, 2] (x, y) in pixels."""
  shift_x = (torch.arange(0, w) + 0.5) * stride
  shift_y = (torch.arange(0, h) + 0.5) * stride
  xx = shift_x.repeat(len(shift_y))
  yy = shift_y.view(-1, 1).repeat(1, len(shift_x)).view(-1)
  return torch.stack([xx, yy], dim=-1)


class MSDeformAttnPixelDecoder(nn.Module):

  def __init__(self, in_channels=(256, 512, 1024, 2048), strides=(4, 8, 16, 32),
               feat_channels=256, out_channels=256, num_outs=3, num_groups=32, num_layers=6,
               num_heads=8, num_levels=3, num_points=4, ffn_channels=1024, pe_num_feats=128):
    super().__init__()
    self.strides = strides
    self.num_input_levels = len(in_channels)
    self.num_encoder_levels = num_levels
    self.num_outs = num_outs
    self.pe_num_feats = pe_num_feats
    self.input_convs = nn.ModuleList([
        backbone_neck.ConvModule(in_channels[i], feat_channels, 1, bias=True,
                                 gn_groups=num_groups, act=False)
        for i in range(self.num_input_levels - 1, self.num_input_levels - num_levels - 1, -1)])
    self.encoder = Encoder(num_layers, dims=feat_channels, heads=num_heads, levels=num_levels,
                           points=num_points, hidden=ffn_channels)
    self.level_encoding = nn.Embedding(num_levels, feat_channels)
    self.lateral_convs = nn.ModuleList()
    self.output_convs = nn.ModuleList()
    for i in range(self.num_input_levels - num_levels - 1, -1, -1):
      self.lateral_convs.append(backbone_neck.ConvModule(
          in_channels[i], feat_channels, 1, bias=False, gn_groups=num_groups, act=False))
      self.output_convs.append(backbone_neck.ConvModule(
          feat_channels, feat_channels, 3, padding=1, bias=False, gn_groups=num_groups, act=True))
    self.mask_feature = nn.Conv2d(feat_channels, out_channels, 1)

  def forward(self, feats):
    batch_size = feats[0].shape[0]
    inputs, positions, shapes, refs = [], [], [], []
    for i in range(self.num_encoder_levels):
      level_idx = self.num_input_levels - i - 1
      feat = feats[level_idx]
      projected = self.input_convs[i](feat)
      h, w = feat.shape[-2:]
      pos = kernel_head.sine_positional_encoding(batch_size, h, w, self.pe_num_feats)
      pos = self.level_encoding.weight[i].view(1, -1, 1, 1) + pos
      ref = grid_priors(h, w, self.strides[level_idx])
      ref = ref / (feat.new_tensor([[w, h]]) * self.strides[level_idx])
      inputs.append(projected.flatten(2).permute(2, 0, 1))
      positions.append(pos.flatten(2).permute(2, 0, 1))
      shapes.append((h, w))
      refs.append(ref)
    query = torch.cat(inputs, 0)
    query_pos = torch.cat(positions, 0)
    ref = torch.cat(refs, 0)[None, :, None].repeat(batch_size, 1, self.num_encoder_levels, 1)
    memory = self.encoder(query, query_pos=query_pos, reference_points=ref, spatial_shapes=shapes)
    memory = memory.permute(1, 2, 0)
    outs = torch.split(memory, [h * w for h, w in shapes], dim=-1)
    outs = [x.reshape(batch_size, -1, h, w) for x, (h, w) in zip(outs, shapes)]
    for i in range(self.num_input_levels - self.num_encoder_levels - 1, -1, -1):
      cur = self.lateral_convs[i](feats[i])
      y = cur + F.interpolate(outs[-1], size=cur.shape[-2:], mode="bilinear", align_corners=False)
      outs.append(self.output_convs[i](y))
    multi_scale = outs[:self.num_outs]
    multi_scale.append(self.mask_feature(outs[-1]))
    multi_scale.reverse()
    return tuple(multi_scale)
