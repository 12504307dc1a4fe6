"""KernelUpdator and VideoKernelUpdateHead (one iterative stage, with linking and fusion).

`previous_type='ffn'` (R50) or `'update'` (Swin) tracking link; `fusion=True`
adds the Swin configs' kernel fusion (`previous_link='update_dynamic_cov'`),
extensions section 2.2; `fusion='link_atten'` the fusion without the update
(`knet/video/kernel_update_head.py` `previous_link == "link_atten"`: no
`attention_previous_update_link`, the previous kernels are the memory as they are).
"""
import torch
from torch import nn
from torch.nn import functional as F


class KernelUpdator(nn.Module):
  """Adaptive kernel update: gates mix the assembled feature and the kernel."""

  def __init__(self, channels=256):
    super().__init__()
    c = channels
    self.dynamic_layer = nn.Linear(c, 2 * c)
    self.input_layer = nn.Linear(c, 2 * c)
    self.input_gate = nn.Linear(c, c)
    self.update_gate = nn.Linear(c, c)
    self.norm_in = nn.LayerNorm(c)
    self.norm_out = nn.LayerNorm(c)
    self.input_norm_in = nn.LayerNorm(c)
    self.input_norm_out = nn.LayerNorm(c)
    self.fc_layer = nn.Linear(c, c)
    self.fc_norm = nn.LayerNorm(c)
    self.channels = c

  def forward(self, update_feature, input_feature):
    """update_feature [M, C] (assembled), input_feature [M, K*K, C] (kernels) -> [M, K*K, C]."""
    c = self.channels
    params = self.dynamic_layer(update_feature.reshape(-1, c))
    param_in, param_out = params[:, :c], params[:, -c:]
    feats = self.input_layer(input_feature.reshape(params.shape[0], -1, c))
    input_in, input_out = feats[..., :c], feats[..., -c:]
    gate = input_in * param_in.unsqueeze(-2)
    input_gate = self.input_norm_in(self.input_gate(gate)).sigmoid()
    update_gate = self.norm_in(self.update_gate(gate)).sigmoid()
    param_out = self.norm_out(param_out)
    input_out = self.input_norm_out(input_out)
    out = update_gate * param_out.unsqueeze(-2) + input_gate * input_out
    return F.relu(self.fc_norm(self.fc_layer(out)))


class MultiheadAttention(nn.Module):
  """mmcv wrapper: `identity + attn(q, k, v)` (sequence-first), module `.attn`."""

  def __init__(self, channels=256, heads=8):
    super().__init__()
    self.attn = nn.MultiheadAttention(channels, heads, dropout=0.0)

  def forward(self, query, key=None, value=None):
    key = query if key is None else key
    value = key if value is None else value
    return query + self.attn(query, key, value, need_weights=False)[0]


class FFN(nn.Module):
  """mmcv FFN with 2 fcs: `x + layers(x)`; layers = Seq(Seq(Linear, ReLU, Drop), Linear, Drop)."""

  def __init__(self, channels=256, hidden=2048):
    super().__init__()
    self.layers = nn.Sequential(
        nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Dropout(0.0)),
        nn.Linear(hidden, channels), nn.Dropout(0.0))

  def forward(self, x):
    return x + self.layers(x)


class ConvModuleNoNorm(nn.Module):
  """feat_transform: ConvModule(1x1, bias, act=None) -> only `.conv`."""

  def __init__(self, channels):
    super().__init__()
    self.conv = nn.Conv2d(channels, channels, 1)

  def forward(self, x):
    return self.conv(x)


def _fcs(c, n):
  layers = []
  for _ in range(n):
    layers += [nn.Linear(c, c, bias=False), nn.LayerNorm(c), nn.ReLU()]
  return nn.Sequential(*layers)


class VideoKernelUpdateHead(nn.Module):
  """One stage: assemble, update, interact (MHA), FFN, cls/mask heads; link if previous."""

  def __init__(self, channels=256, heads=8, ffn=2048, num_classes=19, num_cls_fcs=1,
               num_mask_fcs=1, mask_thr=0.5, previous_type="ffn", fusion=False):
    super().__init__()
    c = channels
    self.channels, self.mask_thr = c, mask_thr
    self.attention = MultiheadAttention(c, heads)
    self.attention_norm = nn.LayerNorm(c)
    self.kernel_update_conv = KernelUpdator(c)
    self.feat_transform = ConvModuleNoNorm(c)
    self.ffn = FFN(c, ffn)
    self.ffn_norm = nn.LayerNorm(c)
    self.cls_fcs = _fcs(c, num_cls_fcs)
    self.fc_cls = nn.Linear(c, num_classes)
    self.mask_fcs = _fcs(c, num_mask_fcs)
    self.fc_mask = nn.Linear(c, c)
    # Built in every stage, used only where previous kernels are given.
    self.previous_type, self.fusion = previous_type, fusion
    if previous_type == "ffn":
      self.attention_previous = MultiheadAttention(c, heads)
      self.attention_previous_norm = nn.LayerNorm(c)
      self.link_ffn = FFN(c, ffn)
      self.link_ffn_norm = nn.LayerNorm(c)
    else:   # 'update': the track branch (suffix _track) starts with its own KernelUpdator.
      self.attention_previous_update_track = KernelUpdator(c)
      self.attention_previous_track = MultiheadAttention(c, heads)
      self.attention_previous_norm_track = nn.LayerNorm(c)
      self.link_ffn_track = FFN(c, ffn)
      self.link_ffn_norm_track = nn.LayerNorm(c)
    if fusion:
      if fusion != "link_atten":
        self.attention_previous_update_link = KernelUpdator(c)
      self.attention_previous_link = MultiheadAttention(c, heads)
      self.attention_previous_norm_link = nn.LayerNorm(c)
      self.link_ffn_link = FFN(c, ffn)
      self.link_ffn_norm_link = nn.LayerNorm(c)

  def _update_attend_ffn(self, suffix, query, previous, x_feat):
    """KernelUpdator{suffix}(x_feat, previous) as memory; LN(q + MHA); LN(t + FFN(t)).

    query [B,N,1,C], previous [B,N,C,1,1], x_feat [B,N,C] -> [B,N,1,C].
    """
    b, n, _, c = query.shape
    prev = getattr(self, "attention_previous_update" + suffix)(
        x_feat.reshape(b * n, c), previous.reshape(b * n, 1, c))         # [B*N,1,C]
    q = query.reshape(b, n, c).permute(1, 0, 2)
    kv = prev.reshape(b, n, c).permute(1, 0, 2)
    t = getattr(self, "attention_previous_norm" + suffix)(
        getattr(self, "attention_previous" + suffix)(q, kv, kv))
    t = t.permute(1, 0, 2).reshape(b, n, 1, c)
    return getattr(self, "link_ffn_norm" + suffix)(getattr(self, "link_ffn" + suffix)(t))

  def forward(self, x, proposal_feat, mask_preds, previous_obj_feats=None):
    """x [B,C,h,w], proposal_feat [B,N,C,1,1], mask_preds [B,N,h,w]."""
    b, n = proposal_feat.shape[:2]
    c = self.channels
    x = self.feat_transform(x)
    h, w = x.shape[-2:]
    hard = (mask_preds.sigmoid() > self.mask_thr).float()
    x_feat = torch.einsum("bnhw,bchw->bnc", hard, x)
    proposal_feat = proposal_feat.reshape(b, n, c, -1).permute(0, 1, 3, 2)   # [B,N,1,C]
    if self.fusion == "link_atten" and previous_obj_feats is not None:
      q = proposal_feat.reshape(b, n, c).permute(1, 0, 2)
      kv = previous_obj_feats.reshape(b, n, c).permute(1, 0, 2)
      t = self.attention_previous_norm_link(self.attention_previous_link(q, kv, kv))
      t = t.permute(1, 0, 2).reshape(b, n, 1, c)
      proposal_feat = self.link_ffn_norm_link(self.link_ffn_link(t))
    elif self.fusion and previous_obj_feats is not None:   # fused kernels replace the input.
      proposal_feat = self._update_attend_ffn("_link", proposal_feat, previous_obj_feats, x_feat)
    obj = self.kernel_update_conv(x_feat, proposal_feat)
    obj = obj.reshape(b, n, -1).permute(1, 0, 2)                             # [N,B,C]
    obj = self.attention_norm(self.attention(obj))
    obj = obj.permute(1, 0, 2).reshape(b, n, -1, c)                          # [B,N,1,C]
    obj = self.ffn_norm(self.ffn(obj))
    obj_track = None
    if previous_obj_feats is not None and self.previous_type == "update":
      obj_track = self._update_attend_ffn("_track", obj, previous_obj_feats, x_feat)
    elif previous_obj_feats is not None:
      q = obj.reshape(b, n, -1).permute(1, 0, 2)
      kv = previous_obj_feats.reshape(b, n, -1).permute(1, 0, 2)
      t = self.attention_previous_norm(self.attention_previous(q, kv, kv))
      t = t.permute(1, 0, 2).reshape(b, n, -1, c)
      obj_track = self.link_ffn_norm(self.link_ffn(t))
    cls_score = self.fc_cls(self.cls_fcs(obj.sum(-2))).view(b, n, -1)
    mask_feat = self.fc_mask(self.mask_fcs(obj)).permute(0, 1, 3, 2).reshape(b, n, c, 1, 1)
    new_masks = torch.cat([F.conv2d(x[i:i + 1], mask_feat[i]) for i in range(b)], dim=0)
    new_masks = new_masks.reshape(b, n, h, w)
    obj_out = obj.permute(0, 1, 3, 2).reshape(b, n, c, 1, 1)
    return cls_score, new_masks, obj_out, obj_track
