"""SwinTransformerDIY (the original's Swin backbone), written from extensions section 1.

Registration order follows the original so the state_dict lists its keys in
the same order: patch_embed, layers.{i}.blocks.{j} (norm1, attn (bias table,
index buffer, qkv, proj), norm2, mlp), layers.{i}.downsample (reduction, norm),
norm0..norm3.
"""
import torch
from torch import nn
from torch.nn import functional as F


def window_partition(x, w):
  """[B, H, W, C] -> [B * nW, w, w, C]."""
  b, h, wd, c = x.shape
  x = x.view(b, h // w, w, wd // w, w, c)
  return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, w, w, c)


def window_reverse(windows, w, h, wd):
  b = int(windows.shape[0] / (h * wd / w / w))
  x = windows.view(b, h // w, wd // w, w, w, -1)
  return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, wd, -1)


class PatchEmbed(nn.Module):

  def __init__(self, embed, patch=4):
    super().__init__()
    self.patch = patch
    self.proj = nn.Conv2d(3, embed, patch, stride=patch)
    self.norm = nn.LayerNorm(embed)

  def forward(self, x):
    _, _, h, w = x.shape
    if w % self.patch:
      x = F.pad(x, (0, self.patch - w % self.patch))
    if h % self.patch:
      x = F.pad(x, (0, 0, 0, self.patch - h % self.patch))
    x = self.proj(x)
    wh, ww = x.shape[2:]
    x = self.norm(x.flatten(2).transpose(1, 2))
    return x, wh, ww


class WindowAttention(nn.Module):

  def __init__(self, dim, window, heads):
    super().__init__()
    self.window, self.heads = window, heads
    self.scale = (dim // heads) ** -0.5
    self.relative_position_bias_table = nn.Parameter(
        torch.zeros((2 * window - 1) ** 2, heads))
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window),
                                        indexing="ij")).flatten(1)      # [2, w*w]
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += window - 1
    rel[:, :, 1] += window - 1
    rel[:, :, 0] *= 2 * window - 1
    self.register_buffer("relative_position_index", rel.sum(-1))
    self.qkv = nn.Linear(dim, 3 * dim)
    self.proj = nn.Linear(dim, dim)

  def forward(self, x, mask=None):
    b, n, c = x.shape
    qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
    attn = q @ k.transpose(-2, -1)
    bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
    attn = attn + bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
    if mask is not None:
      nw = mask.shape[0]
      attn = attn.view(b // nw, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
      attn = attn.view(-1, self.heads, n, n)
    attn = attn.softmax(-1)
    return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):

  def __init__(self, dim, hidden):
    super().__init__()
    self.fc1 = nn.Linear(dim, hidden)
    self.act = nn.GELU()
    self.fc2 = nn.Linear(hidden, dim)

  def forward(self, x):
    return self.fc2(self.act(self.fc1(x)))


class SwinBlock(nn.Module):

  def __init__(self, dim, heads, window, shift):
    super().__init__()
    self.window, self.shift = window, shift
    self.norm1 = nn.LayerNorm(dim)
    self.attn = WindowAttention(dim, window, heads)
    self.norm2 = nn.LayerNorm(dim)
    self.mlp = Mlp(dim, 4 * dim)

  def forward(self, x, h, w, mask):
    b, _, c = x.shape
    shortcut = x
    x = self.norm1(x).view(b, h, w, c)
    ws = self.window
    pad_r, pad_b = (ws - w % ws) % ws, (ws - h % ws) % ws
    x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))       # zeros after the LayerNorm.
    hp, wp = x.shape[1:3]
    if self.shift:
      x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
    windows = window_partition(x, ws).view(-1, ws * ws, c)
    windows = self.attn(windows, mask if self.shift else None)
    x = window_reverse(windows.view(-1, ws, ws, c), ws, hp, wp)
    if self.shift:
      x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
    x = x[:, :h, :w].contiguous().view(b, h * w, c)
    x = shortcut + x
    return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):

  def __init__(self, dim):
    super().__init__()
    self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
    self.norm = nn.LayerNorm(4 * dim)

  def forward(self, x, h, w):
    b, _, c = x.shape
    x = x.view(b, h, w, c)
    if h % 2 or w % 2:
      x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
    x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
    return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class BasicLayer(nn.Module):

  def __init__(self, dim, depth, heads, window, downsample):
    super().__init__()
    self.window, self.shift = window, window // 2
    self.blocks = nn.ModuleList([
        SwinBlock(dim, heads, window, 0 if j % 2 == 0 else window // 2) for j in range(depth)])
    self.downsample = PatchMerging(dim) if downsample else None

  def shift_mask(self, h, w, device):
    ws, s = self.window, self.shift
    hp, wp = -(-h // ws) * ws, -(-w // ws) * ws
    img = torch.zeros((1, hp, wp, 1), device=device)
    cnt = 0
    for hs in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
      for wsl in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
        img[:, hs, wsl, :] = cnt
        cnt += 1
    windows = window_partition(img, ws).view(-1, ws * ws)
    mask = windows.unsqueeze(1) - windows.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)

  def forward(self, x, h, w):
    mask = self.shift_mask(h, w, x.device)
    for block in self.blocks:
      x = block(x, h, w, mask)
    if self.downsample is None:
      return x, h, w, x, h, w
    return x, h, w, self.downsample(x, h, w), (h + 1) // 2, (w + 1) // 2


class SwinTransformer(nn.Module):
  """Returns norm{i}(stage i output before merging) as [B, C_i, H_i, W_i], i = 0..3."""

  def __init__(self, embed=128, depths=(2, 2, 18, 2), heads=(4, 8, 16, 32), window=7):
    super().__init__()
    self.patch_embed = PatchEmbed(embed)
    self.layers = nn.ModuleList([
        BasicLayer(embed * 2**i, d, heads[i], window, downsample=i < len(depths) - 1)
        for i, d in enumerate(depths)])
    self.out_channels = [embed * 2**i for i in range(len(depths))]
    for i, c in enumerate(self.out_channels):
      self.add_module(f"norm{i}", nn.LayerNorm(c))

  def forward(self, x):
    x, h, w = self.patch_embed(x)
    outs = []
    for i, layer in enumerate(self.layers):
      out, oh, ow, x, h, w = layer(x, h, w)
      out = getattr(self, f"norm{i}")(out)
      outs.append(out.view(-1, oh, ow, self.out_channels[i]).permute(0, 3, 1, 2).contiguous())
    return outs
