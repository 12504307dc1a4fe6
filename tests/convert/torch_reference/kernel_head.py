"""SemanticFPNWrapper (the localization feature) and ConvKernelHead (initial kernels)."""
import math

import torch
from torch import nn

from tests.convert.torch_reference.backbone_neck import ConvModule


def sine_positional_encoding(b, h, w, num_feats, temperature=10000.0, eps=1e-6):
  """mmdet SinePositionalEncoding(normalize=True) of an all-valid mask -> [B, 2F, H, W]."""
  not_mask = torch.ones(b, h, w)
  y = not_mask.cumsum(1, dtype=torch.float32)
  x = not_mask.cumsum(2, dtype=torch.float32)
  scale = 2 * math.pi
  y = y / (y[:, -1:, :] + eps) * scale
  x = x / (x[:, :, -1:] + eps) * scale
  dim_t = torch.arange(num_feats, dtype=torch.float32)
  dim_t = temperature**(2 * (dim_t // 2) / num_feats)
  pos_x = x[:, :, :, None] / dim_t
  pos_y = y[:, :, :, None] / dim_t
  pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).view(b, h, w, -1)
  pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).view(b, h, w, -1)
  return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)


class SemanticFPNWrapper(nn.Module):
  """Levels 0..3 all brought to stride 8 and summed; returns [conv_pred(F), aux_convs[0](F)]."""

  def __init__(self, channels=256, groups=32, pe_num_feats=128, pe_temperature=10000.0,
               end_level=3, upsample_times=2):
    super().__init__()
    self.pe_num_feats, self.pe_temperature = pe_num_feats, pe_temperature
    self.end_level = end_level
    conv = lambda stride=1: ConvModule(channels, channels, 3, stride=stride, padding=1,
                                       bias=False, gn_groups=groups)
    self.convs_all_levels = nn.ModuleList()
    for i in range(end_level + 1):
      level = nn.Sequential()
      if i == 0:   # P2 at stride 4: one stride-2 conv (upsample_times=2 -> stride 8).
        for j in range(end_level - upsample_times):
          level.add_module(f"conv{j}", conv(stride=2))
      else:
        for j in range(i):
          level.add_module(f"conv{j}", conv())
          up = (i > end_level - upsample_times) if j == 0 else (
              j < upsample_times - (end_level - i))
          if up:
            level.add_module(f"upsample{j}", nn.Upsample(scale_factor=2, mode="bilinear",
                                                        align_corners=False))
      self.convs_all_levels.append(level)
    self.conv_pred = ConvModule(channels, channels, 1, bias=False, gn_groups=groups)
    self.aux_convs = nn.ModuleList([ConvModule(channels, channels, 1, bias=False,
                                               gn_groups=groups)])

  def forward(self, inputs):
    total = 0
    for i in range(self.end_level + 1):
      x = inputs[i]
      if i == self.end_level:   # cat_coors_level = 3: sine PE added to P5.
        b, _, h, w = x.shape
        x = x + sine_positional_encoding(b, h, w, self.pe_num_feats, self.pe_temperature)
      total = total + self.convs_all_levels[i](x)
    return [self.conv_pred(total)] + [conv(total) for conv in self.aux_convs]


class ConvKernelHead(nn.Module):
  """Initial thing masks/kernels (+ pooled features) and stuff kernels from conv_seg."""

  def __init__(self, channels=256, groups=32, num_proposals=100, num_classes=19,
               num_thing_classes=2, pe_num_feats=128, pe_temperature=10000.0):
    super().__init__()
    self.num_proposals, self.num_thing_classes = num_proposals, num_thing_classes
    self.localization_fpn = SemanticFPNWrapper(channels, groups, pe_num_feats, pe_temperature)
    self.init_kernels = nn.Conv2d(channels, num_proposals, 1, bias=False)
    self.conv_seg = nn.Conv2d(channels, num_classes, 1)
    self.loc_convs = nn.ModuleList([ConvModule(channels, channels, 1, bias=False,
                                               gn_groups=groups)])
    self.seg_convs = nn.ModuleList([ConvModule(channels, channels, 1, bias=False,
                                               gn_groups=groups)])

  def forward(self, fpn_feats):
    """-> proposal_feats [B, N, C, 1, 1], x_feats [B, C, h, w], mask_preds [B, N, h, w], seg."""
    loc, sem = self.localization_fpn(fpn_feats)
    for conv in self.loc_convs:
      loc = conv(loc)
    mask_preds = self.init_kernels(loc)
    for conv in self.seg_convs:
      sem = conv(sem)
    seg_preds = self.conv_seg(sem)
    b = loc.shape[0]
    proposal_feats = self.init_kernels.weight.clone()[None].expand(b, -1, -1, -1, -1)
    x_feats = sem + loc
    hard = (mask_preds.sigmoid() > 0.5).float()
    obj = torch.einsum("bnhw,bchw->bnc", hard, x_feats)   # sum pooling.
    proposal_feats = proposal_feats + obj[..., None, None]
    mask_preds = torch.cat([mask_preds, seg_preds[:, self.num_thing_classes:]], dim=1)
    stuff = self.conv_seg.weight[self.num_thing_classes:].clone()[None].expand(b, -1, -1, -1, -1)
    proposal_feats = torch.cat([proposal_feats, stuff], dim=1)
    return proposal_feats, x_feats, mask_preds, seg_preds
