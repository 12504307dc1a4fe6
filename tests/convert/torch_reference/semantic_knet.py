"""Test-only PyTorch semantic K-Net (video_knet_extensions.md 4.2-4.3), plain torch.nn.

Written from the specification with mmseg / K-Net module names: ResNetV1c-d8
backbone (a dilated torchvision-layout ResNet with the deep stem), PSPNet and
DeepLabv3+ base heads (`kernel_generate_head`), K-Net's semantic
KernelUpdateHead stages (soft assembling, 256-wide KernelUpdator rows on
512-d kernels, no class branch) with the inferred kernel fusion at the last
stage, and the FCN auxiliary head. Used for numerical parity and to derive
the full-size parameter count.
"""
import torch
from torch import nn
from torch.nn import functional as F

from tests.convert.torch_reference import update_head


def _up(x, size):
  return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ConvModule(nn.Module):
  """mmcv ConvModule with BN: conv (no bias) -> bn -> ReLU."""

  def __init__(self, cin, cout, k, dilation=1, groups=1, act=True):
    super().__init__()
    self.conv = nn.Conv2d(cin, cout, k, padding=dilation * (k // 2), dilation=dilation,
                          groups=groups, bias=False)
    self.bn = nn.BatchNorm2d(cout)
    self.act = act

  def forward(self, x):
    x = self.bn(self.conv(x))
    return F.relu(x) if self.act else x


class DepthwiseSeparableConvModule(nn.Module):

  def __init__(self, cin, cout, k, dilation=1):
    super().__init__()
    self.depthwise_conv = ConvModule(cin, cin, k, dilation=dilation, groups=cin)
    self.pointwise_conv = ConvModule(cin, cout, 1)

  def forward(self, x):
    return self.pointwise_conv(self.depthwise_conv(x))


class _ClsSeg(nn.Module):
  """mmseg BaseDecodeHead's classifier: Dropout2d(0.1) -> conv_seg 1x1 (bias)."""

  def _init_cls(self, channels, num_classes):
    self.conv_seg = nn.Conv2d(channels, num_classes, 1)
    self.dropout = nn.Dropout2d(0.1)

  def cls_seg(self, feats):
    return self.conv_seg(self.dropout(feats))


class PSPHead(_ClsSeg):

  def __init__(self, in_channels=2048, channels=512, num_classes=124, pool_scales=(1, 2, 3, 6)):
    super().__init__()
    self.psp_modules = nn.ModuleList(
        nn.Sequential(nn.AdaptiveAvgPool2d(s), ConvModule(in_channels, channels, 1))
        for s in pool_scales)
    self.bottleneck = ConvModule(in_channels + len(pool_scales) * channels, channels, 3)
    self._init_cls(channels, num_classes)

  def forward_feature(self, inputs):
    x = inputs[-1]
    outs = [x] + [_up(m(x), x.shape[2:]) for m in self.psp_modules]
    return self.bottleneck(torch.cat(outs, 1))


class DepthwiseSeparableASPPHead(_ClsSeg):

  def __init__(self, in_channels=2048, c1_in_channels=256, channels=512, c1_channels=48,
               num_classes=124, dilations=(1, 12, 24, 36)):
    super().__init__()
    self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvModule(in_channels, channels, 1))
    self.aspp_modules = nn.ModuleList(
        ConvModule(in_channels, channels, 1) if d == 1 else
        DepthwiseSeparableConvModule(in_channels, channels, 3, dilation=d) for d in dilations)
    self.bottleneck = ConvModule((len(dilations) + 1) * channels, channels, 3)
    self.c1_bottleneck = ConvModule(c1_in_channels, c1_channels, 1)
    self.sep_bottleneck = nn.Sequential(
        DepthwiseSeparableConvModule(channels + c1_channels, channels, 3),
        DepthwiseSeparableConvModule(channels, channels, 3))
    self._init_cls(channels, num_classes)

  def forward_feature(self, inputs):
    x = inputs[-1]
    outs = [_up(self.image_pool(x), x.shape[2:])] + [m(x) for m in self.aspp_modules]
    out = self.bottleneck(torch.cat(outs, 1))
    c1 = self.c1_bottleneck(inputs[0])
    out = torch.cat([_up(out, c1.shape[2:]), c1], 1)
    return self.sep_bottleneck(out)


class FCNHead(_ClsSeg):
  """Auxiliary head on C4: convs.0 (3x3 ConvModule) -> cls_seg."""

  def __init__(self, in_channels=1024, channels=256, num_classes=124):
    super().__init__()
    self.convs = nn.Sequential(ConvModule(in_channels, channels, 3))
    self._init_cls(channels, num_classes)

  def forward(self, inputs):
    return self.cls_seg(self.convs(inputs[2]))


def _fcs(c, n):
  layers = []
  for _ in range(n):
    layers += [nn.Linear(c, c, bias=False), nn.LayerNorm(c), nn.ReLU()]
  return nn.Sequential(*layers)


class SemanticKernelUpdateHead(nn.Module):
  """One K-Net semantic stage; with_fusion adds the inferred fusion layers (4.3)."""

  def __init__(self, channels=512, heads=8, ffn=2048, num_mask_fcs=1, updator_rows=256,
               with_fusion=False):
    super().__init__()
    c = channels
    self.channels = c
    self.feat_transform = update_head.ConvModuleNoNorm(c)
    self.kernel_update_conv = update_head.KernelUpdator(updator_rows)
    self.attention = update_head.MultiheadAttention(c, heads)
    self.attention_norm = nn.LayerNorm(c)
    self.ffn = update_head.FFN(c, ffn)
    self.ffn_norm = nn.LayerNorm(c)
    self.mask_fcs = _fcs(c, num_mask_fcs)
    self.fc_mask = nn.Linear(c, c)
    self.with_fusion = with_fusion
    if with_fusion:
      self.attention_previous_update_link = update_head.KernelUpdator(updator_rows)
      self.attention_previous_link = update_head.MultiheadAttention(c, heads)
      self.attention_previous_norm_link = nn.LayerNorm(c)
      self.link_ffn_link = update_head.FFN(c, ffn)
      self.link_ffn_norm_link = nn.LayerNorm(c)

  def _update(self, updator, feats, kernels):
    """[B, K, C] x2 -> [B, K, C]: the updator works on rows of its own width."""
    b, k, c = kernels.shape
    out = updator(feats, kernels.reshape(b, k, 1, c))
    return out.reshape(b, k, c)

  def forward(self, x, kernels, logits, previous=None):
    """x [B, C, h, w], kernels [B, K, C], logits [B, K, h, w] -> (logits, kernels)."""
    x = self.feat_transform(x)
    if logits.shape[-2:] != x.shape[-2:]:
      logits = _up(logits, x.shape[-2:])
    probs = logits.softmax(dim=1)
    assembled = torch.einsum("bkhw,bchw->bkc", probs, x)
    if previous is not None:
      prev = self._update(self.attention_previous_update_link, assembled, previous)
      q, kv = kernels.permute(1, 0, 2), prev.permute(1, 0, 2)
      t = self.attention_previous_norm_link(self.attention_previous_link(q, kv, kv))
      kernels = self.link_ffn_norm_link(self.link_ffn_link(t.permute(1, 0, 2)))
    obj = self._update(self.kernel_update_conv, assembled, kernels)
    obj = self.attention_norm(self.attention(obj.permute(1, 0, 2))).permute(1, 0, 2)
    obj = self.ffn_norm(self.ffn(obj))
    mask_kernels = self.fc_mask(self.mask_fcs(obj))
    return torch.einsum("bkc,bchw->bkhw", mask_kernels, x), obj


class IterativeDecodeHead(nn.Module):

  def __init__(self, kernel_generate_head, num_stages=3, fusion=False, **stage_kwargs):
    super().__init__()
    self.kernel_generate_head = kernel_generate_head
    self.kernel_update_head = nn.ModuleList(
        SemanticKernelUpdateHead(with_fusion=fusion and s == num_stages - 1, **stage_kwargs)
        for s in range(num_stages))

  def forward(self, inputs, previous=None):
    """-> (base logits, [stage logits], last kernels)."""
    head = self.kernel_generate_head
    feats = head.forward_feature(inputs)
    logits = head.cls_seg(feats)
    kernels = head.conv_seg.weight[:, :, 0, 0][None].expand(feats.shape[0], -1, -1)
    base, stages = logits, []
    for s, stage in enumerate(self.kernel_update_head):
      last = s == len(self.kernel_update_head) - 1
      logits, kernels = stage(feats, kernels, logits, previous if last else None)
      stages.append(logits)
    return base, stages, kernels


class Bottleneck(nn.Module):
  """torchvision Bottleneck (stride and dilation on conv2), names conv1..3, bn1..3, downsample."""

  def __init__(self, cin, width, stride=1, dilation=1, downsample=False):
    super().__init__()
    self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(width)
    self.conv2 = nn.Conv2d(width, width, 3, stride, padding=dilation, dilation=dilation,
                           bias=False)
    self.bn2 = nn.BatchNorm2d(width)
    self.conv3 = nn.Conv2d(width, 4 * width, 1, bias=False)
    self.bn3 = nn.BatchNorm2d(4 * width)
    self.downsample = (nn.Sequential(nn.Conv2d(cin, 4 * width, 1, stride, bias=False),
                                     nn.BatchNorm2d(4 * width)) if downsample else None)

  def forward(self, x):
    out = F.relu(self.bn1(self.conv1(x)))
    out = F.relu(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
  """torchvision-layout ResNet; `dilated` = replace_stride_with_dilation [F, T, T]
  (block 0 of layer3/4 uses the previous dilation, as mmseg's contract_dilation);
  `deep_stem` = mmseg ResNetV1c's stem.0..8 instead of conv1/bn1."""

  def __init__(self, layers=(3, 4, 23, 3), width=64, dilated=True, deep_stem=True):
    super().__init__()
    if deep_stem:
      self.stem = nn.Sequential(
          nn.Conv2d(3, width // 2, 3, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(),
          nn.Conv2d(width // 2, width // 2, 3, 1, 1, bias=False), nn.BatchNorm2d(width // 2),
          nn.ReLU(), nn.Conv2d(width // 2, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
          nn.ReLU())
    else:
      self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
      self.bn1 = nn.BatchNorm2d(width)
    self.deep_stem = deep_stem
    strides = (1, 2, 1, 1) if dilated else (1, 2, 2, 2)
    dilations = (1, 1, 2, 4) if dilated else (1, 1, 1, 1)
    cin, previous = width, 1
    for i, n in enumerate(layers):
      w = width * 2**i
      blocks = [Bottleneck(cin, w, strides[i], previous, downsample=True)]
      blocks += [Bottleneck(4 * w, w, 1, dilations[i]) for _ in range(n - 1)]
      setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
      cin, previous = 4 * w, dilations[i]

  def forward(self, x):
    x = self.stem(x) if self.deep_stem else F.relu(self.bn1(self.conv1(x)))
    x = F.max_pool2d(x, 3, 2, 1)
    outs = []
    for i in range(4):
      x = getattr(self, f"layer{i + 1}")(x)
      outs.append(x)
    return outs


class SemanticKNet(nn.Module):
  """EncoderDecoder: backbone, decode_head (IterativeDecodeHead), auxiliary_head."""

  def __init__(self, base_head="psp", num_classes=124, layers=(3, 4, 23, 3), fusion=True):
    super().__init__()
    self.backbone = ResNet(layers)
    generate = (PSPHead(num_classes=num_classes) if base_head == "psp"
                else DepthwiseSeparableASPPHead(num_classes=num_classes))
    self.decode_head = IterativeDecodeHead(generate, fusion=fusion)
    self.auxiliary_head = FCNHead(num_classes=num_classes)
