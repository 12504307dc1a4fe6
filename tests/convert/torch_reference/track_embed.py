"""The ablations' tracking-embedding paths in PyTorch, from the original's code paths.

* RoI-Align (`knet/video/knet_quansi_dense_roi_gt_box*.py` `_track_forward`):
  `unitrack` `batch_mask2boxlist` (coords2bboxTensor: centre +- 2 x mean
  absolute deviation, at least 1; empty -> zeros), rois clamped at 0, mmdet
  `SingleRoIExtractor` (finest_scale 56, featmap_strides 4..32) with mmcv
  `RoIAlign(7, sampling_ratio=2, aligned=True)`, then QDTrack's
  `QuasiDenseMaskEmbedHead` (ConvModule convs with GN, fcs, fc_embed).
  torchvision is not installed here, so RoI-Align is a scalar transliteration
  of mmcv's `roi_align_forward` / `bilinear_interpolate` kernel.
* Mask-Emb (`knet/video/knet_quansi_dense.py` `_track_forward`, test path):
  masks resized (bilinear, align_corners=False) to x_feats, `sigmoid > 0.5`,
  einsum-pooled and divided by (area + 1), then the track head.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F


def bilinear_interpolate(feat, y, x):
  """mmcv `bilinear_interpolate` of feat [C, H, W] at (y, x) -> [C]."""
  height, width = feat.shape[1:]
  if y < -1.0 or y > height or x < -1.0 or x > width:
    return feat.new_zeros(feat.shape[0])
  y, x = max(y, 0.0), max(x, 0.0)
  y_low, x_low = int(y), int(x)
  if y_low >= height - 1:
    y_high = y_low = height - 1
    y = float(y_low)
  else:
    y_high = y_low + 1
  if x_low >= width - 1:
    x_high = x_low = width - 1
    x = float(x_low)
  else:
    x_high = x_low + 1
  ly, lx = y - y_low, x - x_low
  hy, hx = 1.0 - ly, 1.0 - lx
  return (hy * hx * feat[:, y_low, x_low] + hy * lx * feat[:, y_low, x_high]
          + ly * hx * feat[:, y_high, x_low] + ly * lx * feat[:, y_high, x_high])


def roi_align(feat, roi, spatial_scale, output_size=7, sampling_ratio=2):
  """mmcv `RoIAlign(aligned=True)` of one roi (x1, y1, x2, y2) on feat [C, H, W]
  -> [C, out, out] (a loop over bins and samples, as the CUDA kernel)."""
  x1, y1, x2, y2 = (float(v) * spatial_scale - 0.5 for v in roi)
  bin_h, bin_w = (y2 - y1) / output_size, (x2 - x1) / output_size
  out = feat.new_zeros(feat.shape[0], output_size, output_size)
  for ph in range(output_size):
    for pw in range(output_size):
      acc = feat.new_zeros(feat.shape[0])
      for iy in range(sampling_ratio):
        y = y1 + ph * bin_h + (iy + 0.5) * bin_h / sampling_ratio
        for ix in range(sampling_ratio):
          x = x1 + pw * bin_w + (ix + 0.5) * bin_w / sampling_ratio
          acc = acc + bilinear_interpolate(feat, y, x)
      out[:, ph, pw] = acc / (sampling_ratio * sampling_ratio)
  return out


def mask_box(mask, extend=2):
  """`unitrack.utils.mask.coords2bboxTensor` of one mask's nonzero pixels, as
  `batch_mask2boxlist` returns it (zeros if empty), then clamped at 0."""
  coords = mask.nonzero().float()
  if coords.numel() == 0:
    return torch.zeros(4)
  center = coords.mean(0)
  dis_x = max(float((coords[:, 0] - center[0]).abs().mean()), 1.0)
  dis_y = max(float((coords[:, 1] - center[1]).abs().mean()), 1.0)
  left, right = center[0] - dis_x * extend, center[0] + dis_x * extend
  top, bottom = center[1] - dis_y * extend, center[1] + dis_y * extend
  return torch.stack([top, left, bottom, right]).clamp(min=0.0)


def single_roi_extractor(feats, rois, strides=(4, 8, 16, 32), finest_scale=56,
                         output_size=7, sampling_ratio=2):
  """mmdet `SingleRoIExtractor`: feats [L] of [C, H, W] (one image), rois [K, 4]."""
  out = feats[0].new_zeros(len(rois), feats[0].shape[0], output_size, output_size)
  for k, roi in enumerate(rois):
    scale = math.sqrt(float((roi[2] - roi[0]) * (roi[3] - roi[1])))
    level = int(min(max(math.floor(math.log2(scale / finest_scale + 1e-6)), 0), len(feats) - 1))
    out[k] = roi_align(feats[level], roi, 1.0 / strides[level], output_size, sampling_ratio)
  return out


class ConvModuleGN(nn.Module):
  """mmcv ConvModule(3x3, padding 1, norm GN): conv (no bias) -> gn -> ReLU."""

  def __init__(self, channels, groups):
    super().__init__()
    self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
    self.gn = nn.GroupNorm(groups, channels)

  def forward(self, x):
    return F.relu(self.gn(self.conv(x)))


class QuasiDenseEmbedHead(nn.Module):
  """`QuasiDenseMaskEmbedHead`: convs -> flatten (C, r, r) -> (fc + ReLU) x n -> fc_embed."""

  def __init__(self, channels, groups, num_convs, num_fcs, fc_channels, embed, roi_size):
    super().__init__()
    self.convs = nn.ModuleList([ConvModuleGN(channels, groups) for _ in range(num_convs)])
    fc_in = channels * roi_size * roi_size
    self.fcs = nn.ModuleList([nn.Linear(fc_in if i == 0 else fc_channels, fc_channels)
                              for i in range(num_fcs)])
    self.fc_embed = nn.Linear(fc_channels if num_fcs else fc_in, embed)

  def forward(self, x):
    for conv in self.convs:
      x = conv(x)
    x = x.flatten(1)
    for fc in self.fcs:
      x = F.relu(fc(x))
    return self.fc_embed(x)


class RoIEmbedTrack(nn.Module):
  """The RoI-Align detector's tracking part (`track_head` = QDTrack's embed head)."""

  def __init__(self, channels=256, groups=32, num_convs=4, num_fcs=1, fc_channels=1024,
               embed=256):
    super().__init__()
    self.track_head = QuasiDenseEmbedHead(channels, groups, num_convs, num_fcs, fc_channels,
                                          embed, 7)

  def forward(self, fpn_feats, masks):
    """fpn_feats: P2..P5 [1, C, H/s, W/s]; masks [K, H, W] binary -> [K, E]."""
    rois = torch.stack([mask_box(m) for m in masks])
    pooled = single_roi_extractor([f[0] for f in fpn_feats], rois)
    return self.track_head(pooled)


def mask_emb_pool(x_feats, masks):
  """Mask-Emb test path: x_feats [1, C, h, w], masks [K, H, W] -> [K, C]."""
  small = F.interpolate(masks[None].float(), size=x_feats.shape[2:], mode="bilinear",
                        align_corners=False)[0]
  small = (small.sigmoid() > 0.5).float()
  pooled = torch.einsum("nhw,chw->nc", small, x_feats[0])
  return pooled / (small.sum(-1).sum(-1) + 1).unsqueeze(-1)
