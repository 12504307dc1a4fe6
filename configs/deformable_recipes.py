r"""The original's MSDeformAttnPixelDecoder neck settings, shared by the dataset configs.

Numbers from the original's model files (`configs/det/_base_/models/
knet_s3_r50_deformable_fpn.py`, `configs/video_knet_vis/_base_/models/
knet_track_r50_deformablefpn.py`; knet/det/msdeformattn_decoder.py): GN(32)
input projections of the 3 coarsest backbone levels, 6 post-norm encoder
layers of MultiScaleDeformableAttention (256 dims, 8 heads, 3 levels,
4 points, dropout 0) with FFN 1024 and sine positional encodings (128 per
axis, normalised) plus a learnt level embedding, an FPN-style lateral/output
conv pair for the stride-4 level, `mask_feature` 1x1, num_outs 3.

Used as `configs/youtube_vis.py:deformable` (and `:swin_b,deformable`) and
`configs/coco.py:deformable` / `:swin_b,deformable`.
"""
import ml_collections


def apply_deformable_neck(config: ml_collections.ConfigDict) -> None:
  """Replaces the FPN neck of config.model with the original's deformable pixel decoder."""
  n = ml_collections.ConfigDict()
  n.name = "msdeformattn_pixel_decoder"   # models/necks.py.
  n.num_encoder_levels = 3                # C3..C5 through the encoder.
  n.num_layers = 6
  n.num_heads = 8
  n.num_points = 4
  n.ffn_channels = 1024
  n.num_groups = 32                       # GN of input/lateral/output convs.
  n.pe_num_feats = 128                    # sine PE per axis (2x = feat_channels).
  n.num_outs = 3
  # 'gather' or 'one_hot' (same numbers; docs/BENCHMARKS.md: gather is faster on CPU).
  n.attention_method = "gather"
  config.model.neck = n


def apply_deformable_debug(config: ml_collections.ConfigDict) -> None:
  """The decoder shrunk like the dataset's debug model (after its debug shrink)."""
  n = config.model.neck
  n.num_layers = 2
  n.num_heads = 4
  n.ffn_channels = 64
  n.num_groups = 4
  n.pe_num_feats = config.model.feat_channels // 2
