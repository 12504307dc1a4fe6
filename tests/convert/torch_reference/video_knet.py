"""The whole Video K-Net (R50 or Swin KITTI-STEP layout) at test time, one frame per call."""
import dataclasses

import torch
from torch import nn
from torch.nn import functional as F

from tests.convert.torch_reference.backbone_neck import FPN, ResNet
from tests.convert.torch_reference.kernel_head import ConvKernelHead
from tests.convert.torch_reference.swin import SwinTransformer
from tests.convert.torch_reference.update_head import VideoKernelUpdateHead


@dataclasses.dataclass
class Hparams:
  """Defaults = the R50 KITTI-STEP model (reference section 1.3)."""
  stage_blocks: tuple = (3, 4, 6, 3)
  base_width: int = 64
  channels: int = 256
  groups: int = 32
  pe_num_feats: int = 128
  pe_temperature: float = 10000.0
  num_proposals: int = 100
  num_classes: int = 19
  num_thing_classes: int = 2
  num_stages: int = 3
  heads: int = 8
  ffn: int = 2048
  num_cls_fcs: int = 1
  num_mask_fcs: int = 1
  mask_thr: float = 0.5
  embed_channels: int = 256
  track_num_fcs: int = 2
  backbone: str = "resnet"          # or 'swin' (then the swin_* fields below).
  swin_embed: int = 128
  swin_depths: tuple = (2, 2, 18, 2)
  swin_heads: tuple = (4, 8, 16, 32)
  swin_window: int = 7
  previous_type: str = "ffn"        # Swin configs: 'update'.
  fusion: bool = False              # Swin configs: True.


class RoIHead(nn.Module):

  def __init__(self, hp: Hparams):
    super().__init__()
    self.mask_head = nn.ModuleList([
        VideoKernelUpdateHead(hp.channels, hp.heads, hp.ffn, hp.num_classes, hp.num_cls_fcs,
                              hp.num_mask_fcs, hp.mask_thr, hp.previous_type, hp.fusion)
        for _ in range(hp.num_stages)])


class TrackHead(nn.Module):
  """QuasiDenseMaskEmbedHeadGTMask with num_convs=0: (Linear+ReLU) x n -> fc_embed."""

  def __init__(self, cin, hidden, embed, num_fcs):
    super().__init__()
    self.convs = nn.ModuleList()
    self.fcs = nn.ModuleList([nn.Linear(cin if i == 0 else hidden, hidden)
                              for i in range(num_fcs)])
    self.fc_embed = nn.Linear(hidden, embed)

  def forward(self, x):
    for fc in self.fcs:
      x = F.relu(fc(x))
    return self.fc_embed(x)


class VideoKNet(nn.Module):

  def __init__(self, hp: Hparams = Hparams()):
    super().__init__()
    self.hp = hp
    c = hp.channels
    if hp.backbone == "swin":
      self.backbone = SwinTransformer(hp.swin_embed, hp.swin_depths, hp.swin_heads,
                                      hp.swin_window)
    else:
      self.backbone = ResNet(hp.stage_blocks, hp.base_width)
    self.neck = FPN(self.backbone.out_channels, c)
    self.rpn_head = ConvKernelHead(c, hp.groups, hp.num_proposals, hp.num_classes,
                                   hp.num_thing_classes, hp.pe_num_feats, hp.pe_temperature)
    self.roi_head = RoIHead(hp)
    self.track_head = TrackHead(c, hp.embed_channels, hp.embed_channels, hp.track_num_fcs)
    self.embed_fcs = nn.Sequential(nn.Linear(c, c, bias=False), nn.LayerNorm(c), nn.ReLU())
    self.fc_embed = nn.Linear(c, c)

  def forward(self, images, previous_kernels=None):
    """images [B,3,H,W] (normalised); previous_kernels [B,N,C] (last frame's kernels)."""
    feats = self.neck(self.backbone(images))
    kernels, x_feats, masks, seg = self.rpn_head(feats)
    rpn_masks = masks
    stage_masks, stage_cls = [], []
    num_stages = len(self.roi_head.mask_head)
    for s, head in enumerate(self.roi_head.mask_head):
      prev = None
      if previous_kernels is not None and s == num_stages - 1:
        prev = previous_kernels[..., None, None]
      cls, masks, kernels, track = head(x_feats, kernels, masks, prev)
      stage_masks.append(masks)
      stage_cls.append(cls)
    obj = kernels[..., 0, 0]                                    # [B,N,C]
    track = obj if track is None else track.reshape(obj.shape)  # [B,N,C]
    things = track[:, :self.hp.num_proposals]
    emb = self.track_head(self.fc_embed(self.embed_fcs(things)))
    return dict(rpn_mask_logits=rpn_masks[:, :self.hp.num_proposals], rpn_seg_logits=seg,
                stage_mask_logits=torch.stack(stage_masks), stage_cls_logits=torch.stack(stage_cls),
                mask_logits=masks, cls_logits=cls, kernels=obj, track_kernels=track,
                track_embeddings=emb)
