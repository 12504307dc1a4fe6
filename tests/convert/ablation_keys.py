"""Expected state_dict layouts (key, shape, dtype, registration order) of the
ablation variants, written from the original's module definitions.

The original releases no checkpoint or config for these variants, so the lists
are built from the released R50 list (`video_knet_r50.tsv`, 549 entries) by the
rules its modules follow (lxtGH/Video-K-Net@a693403):

* `knet/video/kernel_update_head.py` `VideoKernelUpdateHead.__init__`: every
  stage registers its base layers, then the `previous_type` block (R50: 'ffn':
  attention_previous, attention_previous_norm, link_ffn, link_ffn_norm), then
  the `previous_link` block: 'update_dynamic_cov' = attention_previous_update_link
  (a KernelUpdator, built from the same cfg as kernel_update_conv),
  attention_previous_link, attention_previous_norm_link, link_ffn_link,
  link_ffn_norm_link; 'link_atten' = the same without the KernelUpdator.
  `previous='placeholder'` is set on every stage of the R50 config, so all
  three stages carry these layers.
* `knet/video/knet_quansi_dense_roi_gt_box_joint_train.py` (RoI-Align) and
  `knet/video/knet_quansi_dense.py` (Mask-Emb): detectors without
  `embed_fcs` / `fc_embed`; `track_head` after `roi_head`; the RoI-Align
  extractor has no parameters.
* `knet/video/track_heads.py` `QuasiDenseMaskEmbedHead`: `convs` (mmcv
  ConvModule 3x3: conv without bias (a norm follows) then gn), `fcs`
  (first input C * roi^2, flattened channel-major), `fc_embed`. RoI-Align: its
  defaults (4 convs of 256, 1 fc of 1024, roi 7, embed 256) with QDTrack's
  GN(32); Mask-Emb: the released head (no convs, 2 fcs of 256, roi 1).
"""
from video_knet_jax.convert import reference_keys

Entry = reference_keys.Entry
C, FFN = 256, 2048
_LINK_MODULES = ("attention_previous", "attention_previous_norm", "link_ffn", "link_ffn_norm")


def released():
  return list(reference_keys.load(reference_keys.VIDEO_KNET_R50))


def _module(key: str, stage: int) -> str:
  """'attention_previous' of 'roi_head.mask_head.2.attention_previous.attn.x' (stage 2)."""
  return key[len(f"roi_head.mask_head.{stage}."):].split(".")[0]


def _fusion_block(stage_entries, stage: int, update: bool):
  """The `previous_link` block of one stage, from its own layers' shapes."""
  prefix = f"roi_head.mask_head.{stage}."
  block = []
  if update:   # attention_previous_update_link = KernelUpdator(kernel_updator_cfg).
    block += [Entry(e.key.replace(prefix + "kernel_update_conv.",
                                  prefix + "attention_previous_update_link."), e.shape, e.dtype)
              for e in stage_entries if _module(e.key, stage) == "kernel_update_conv"]
  for e in stage_entries:   # the ffn-link layers again, each name + '_link'.
    module = _module(e.key, stage)
    if module in _LINK_MODULES:
      block.append(Entry(e.key.replace(prefix + module + ".", prefix + module + "_link."),
                         e.shape, e.dtype))
  return block


def with_fusion(entries, update: bool = True):
  """`previous_link` = 'update_dynamic_cov' (update) or 'link_atten' in every stage."""
  out = []
  stages = {}
  for e in entries:
    if e.key.startswith("roi_head.mask_head."):
      stages.setdefault(int(e.key.split(".")[2]), []).append(e)
  for e in entries:
    out.append(e)
    if e.key.startswith("roi_head.mask_head.") and e.key.endswith(".link_ffn_norm.bias"):
      stage = int(e.key.split(".")[2])
      out += _fusion_block(stages[stage], stage, update)
  return out


def _replace_track_head(entries, head):
  out = []
  for e in entries:
    if e.key.startswith(("embed_fcs.", "fc_embed.")):
      continue
    if e.key.startswith("track_head."):
      if head:
        out += head
        head = []
      continue
    out.append(e)
  return out


def roi_align_head(num_convs=4, roi=7, fc=1024, embed=256):
  head = []
  for i in range(num_convs):
    head += [Entry(f"track_head.convs.{i}.conv.weight", (C, C, 3, 3), "float32"),
             Entry(f"track_head.convs.{i}.gn.weight", (C,), "float32"),
             Entry(f"track_head.convs.{i}.gn.bias", (C,), "float32")]
  head += [Entry("track_head.fcs.0.weight", (fc, C * roi * roi), "float32"),
           Entry("track_head.fcs.0.bias", (fc,), "float32"),
           Entry("track_head.fc_embed.weight", (embed, fc), "float32"),
           Entry("track_head.fc_embed.bias", (embed,), "float32")]
  return head


def roi_align(entries):
  """The RoI-Align detector: QDTrack's embed head, no detector-level embed layers."""
  return _replace_track_head(entries, roi_align_head())


def mask_emb(entries):
  """The Mask-Emb detector: the released track head, no detector-level embed layers."""
  head = [e for e in entries if e.key.startswith("track_head.")]
  return _replace_track_head(entries, head)
