"""KNetTrack's clip-level tracker heads in PyTorch, written from extensions 3.3.

`KernelFrameIterHeadVideo`: kernels averaged over the clip, two clip-level
stages (`KernelUpdateHeadVideo` with classes; pooled features = mean over the
T frames of per-frame sum pools; one dynamic kernel segments every frame),
then one per-frame stage without classes on the repeated kernels.
"""
import torch
from torch import nn

from tests.convert.torch_reference.update_head import (FFN, ConvModuleNoNorm, KernelUpdator,
                                                        MultiheadAttention, _fcs)


class KernelUpdateHeadVideo(nn.Module):
  """One tracker stage; `with_cls=False` has no cls_fcs / fc_cls."""

  def __init__(self, channels=256, heads=8, ffn=2048, num_classes=40, with_cls=True,
               num_cls_fcs=1, num_mask_fcs=1, mask_thr=0.5):
    super().__init__()
    c = channels
    self.channels, self.mask_thr, self.with_cls = c, mask_thr, with_cls
    self.attention = MultiheadAttention(c, heads)
    self.attention_norm = nn.LayerNorm(c)
    self.kernel_update_conv = KernelUpdator(c)
    self.feat_transform = ConvModuleNoNorm(c)
    self.ffn = FFN(c, ffn)
    self.ffn_norm = nn.LayerNorm(c)
    if with_cls:
      self.cls_fcs = _fcs(c, num_cls_fcs)
      self.fc_cls = nn.Linear(c, num_classes)
    self.mask_fcs = _fcs(c, num_mask_fcs)
    self.fc_mask = nn.Linear(c, c)

  def forward(self, x, proposal_feat, mask_preds):
    """x [B,T,C,h,w], proposal_feat [B,N,C,1,1], mask_preds [B,T,N,h,w]."""
    b, t, c, h, w = x.shape
    n = proposal_feat.shape[1]
    x = self.feat_transform(x.flatten(0, 1)).reshape(b, t, c, h, w)
    hard = (mask_preds.sigmoid() > self.mask_thr).float()
    x_feat = torch.einsum("btnhw,btchw->btnc", hard, x).mean(1)            # [B,N,C]
    proposal_feat = proposal_feat.reshape(b, n, c, -1).permute(0, 1, 3, 2)  # [B,N,1,C]
    obj = self.kernel_update_conv(x_feat, proposal_feat)
    obj = obj.reshape(b, n, -1).permute(1, 0, 2)                            # [N,B,C]
    obj = self.attention_norm(self.attention(obj))
    obj = obj.permute(1, 0, 2).reshape(b, n, -1, c)                         # [B,N,1,C]
    obj = self.ffn_norm(self.ffn(obj))
    cls_score = None
    if self.with_cls:
      cls_score = self.fc_cls(self.cls_fcs(obj.sum(-2))).view(b, n, -1)
    mask_feat = self.fc_mask(self.mask_fcs(obj)).reshape(b, n, c)
    new_masks = torch.einsum("bnc,btchw->btnhw", mask_feat, x)
    return cls_score, new_masks, obj.permute(0, 1, 3, 2).reshape(b, n, c, 1, 1)


class KernelFrameIterHeadVideo(nn.Module):
  """`tracker`: mask_head.0..S-2 clip-level with classes, mask_head.S-1 per frame."""

  def __init__(self, num_stages=3, **stage_kw):
    super().__init__()
    self.mask_head = nn.ModuleList([
        KernelUpdateHeadVideo(with_cls=s < num_stages - 1, **stage_kw)
        for s in range(num_stages)])

  def forward(self, x, obj, masks):
    """x [B,T,C,h,w], obj [B,T,N,C,1,1], masks [B,T,N,h,w] -> (masks, cls) lists."""
    b, t = x.shape[:2]
    kernels = obj.mean(1)                                                   # [B,N,C,1,1]
    all_masks, all_cls = [], []
    for head in self.mask_head[:-1]:
      cls, masks, kernels = head(x, kernels, masks)
      all_masks.append(masks)
      all_cls.append(cls)
    frame_kernels = kernels[:, None].expand(b, t, *kernels.shape[1:]).flatten(0, 1)
    _, frame_masks, _ = self.mask_head[-1](
        x.flatten(0, 1)[:, None], frame_kernels, masks.flatten(0, 1)[:, None])
    all_masks.append(frame_masks.reshape(masks.shape))
    return all_masks, all_cls
