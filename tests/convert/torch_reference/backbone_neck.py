"""ResNet (mmdet/torchvision 'pytorch' style) and FPN, with the original names."""
from torch import nn
from torch.nn import functional as F


class Bottleneck(nn.Module):
  """1x1 -> 3x3 (stride here) -> 1x1, expansion 4, post-BN, ReLU after the sum."""

  def __init__(self, cin: int, planes: int, stride: int, downsample: bool):
    super().__init__()
    self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(planes)
    self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
    self.bn2 = nn.BatchNorm2d(planes)
    self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
    self.bn3 = nn.BatchNorm2d(planes * 4)
    self.relu = nn.ReLU()
    self.downsample = nn.Sequential(
        nn.Conv2d(cin, planes * 4, 1, stride=stride, bias=False),
        nn.BatchNorm2d(planes * 4)) if downsample else None

  def forward(self, x):
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.relu(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    identity = self.downsample(x) if self.downsample is not None else x
    return self.relu(out + identity)


class ResNet(nn.Module):
  """Returns the outputs of layer1..layer4 (C2..C5)."""

  def __init__(self, stage_blocks=(3, 4, 6, 3), base_width=64):
    super().__init__()
    self.conv1 = nn.Conv2d(3, base_width, 7, stride=2, padding=3, bias=False)
    self.bn1 = nn.BatchNorm2d(base_width)
    self.relu = nn.ReLU()
    self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
    cin = base_width
    self.out_channels = []
    for i, blocks in enumerate(stage_blocks):
      planes = base_width * 2**i
      layer = nn.Sequential(*[
          Bottleneck(cin if b == 0 else planes * 4, planes, (1 if i == 0 else 2) if b == 0 else 1,
                     downsample=(b == 0)) for b in range(blocks)])
      self.add_module(f"layer{i + 1}", layer)
      cin = planes * 4
      self.out_channels.append(cin)
    self.num_stages = len(stage_blocks)

  def forward(self, x):
    x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
    outs = []
    for i in range(self.num_stages):
      x = getattr(self, f"layer{i + 1}")(x)
      outs.append(x)
    return outs


class ConvModule(nn.Module):
  """mmcv ConvModule: `.conv` (+ optional `.gn` GroupNorm) (+ optional ReLU)."""

  def __init__(self, cin, cout, k, *, stride=1, padding=0, bias=True, gn_groups=None,
               act=True):
    super().__init__()
    self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=bias)
    if gn_groups:
      self.gn = nn.GroupNorm(gn_groups, cout, eps=1e-5)
    else:
      self.gn = None
    self.act = act

  def forward(self, x):
    x = self.conv(x)
    if self.gn is not None:
      x = self.gn(x)
    return F.relu(x) if self.act else x


class FPN(nn.Module):
  """mmdet FPN, start_level 0, no extra levels, no norm/activation."""

  def __init__(self, in_channels, out_channels=256):
    super().__init__()
    self.lateral_convs = nn.ModuleList(
        [ConvModule(c, out_channels, 1, act=False) for c in in_channels])
    self.fpn_convs = nn.ModuleList(
        [ConvModule(out_channels, out_channels, 3, padding=1, act=False) for _ in in_channels])

  def forward(self, inputs):
    lats = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
    for i in range(len(lats) - 1, 0, -1):
      lats[i - 1] = lats[i - 1] + F.interpolate(lats[i], size=lats[i - 1].shape[2:],
                                                mode="nearest")
    return [conv(x) for conv, x in zip(self.fpn_convs, lats)]
