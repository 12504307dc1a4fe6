r"""The original's Swin-B / Swin-L settings, shared by the dataset configs.

Numbers from the original configs (video_knet_extensions.md section 1.1,
video_knet_original.md section 1.5): `SwinTransformerDIY(patch 4, window 7,
mlp_ratio 4, qkv_bias, no absolute position embedding, patch_norm,
out_indices 0..3, frozen_stages -1, with_cp False)`, AdamW on everything
(norms and relative position tables are decayed too: no paramwise rules
besides the backbone lr multiplier), and for the KITTI-STEP `..._joint_update`
recipes kernel fusion plus the "update" tracking link (section 2).

Used as `configs/kitti_step.py:swin_b`, `:swin_l`, `:swin_l_short_track_fc` (and
`:swin_b,debug`), `configs/cityscapes_vps.py:swin_b` and `configs/vipseg.py:swin_b`;
the image K-Net form (`apply_image_knet_swin`) is for `configs/cityscapes_step.py:swin_b`.
"""
import ml_collections

from video_knet_jax.configs import common

# size -> (embed C, depths, heads, drop_path_rate); stage i has C * 2^i channels.
SWIN = {
    "swin_b": (128, (2, 2, 18, 2), (4, 8, 16, 32), 0.3),
    "swin_l": (192, (2, 2, 18, 2), (6, 12, 24, 48), 0.2),
}


def parse_arg(arg: str, sizes=tuple(SWIN), variants=(),
              file: str = "the config") -> tuple[str | None, bool]:
  """A config argument like 'swin_b,debug' -> (Swin size or None, debug).

  `sizes` are the Swin sizes a config accepts; `variants` are its named
  recipes beyond them (returned in the size's place); `file` names the config
  in the error.
  """
  names = (*sizes, *variants)
  parts = common.parse_args(arg, file=file, choices=("debug", *names),
                            exclusive=[names])
  chosen = [p for p in parts if p in names]
  return (chosen[0] if chosen else None), "debug" in parts


def apply_swin_backbone(config: ml_collections.ConfigDict, size: str) -> None:
  """Replaces config.model.backbone with the original's Swin-B or Swin-L."""
  if size not in SWIN:
    raise ValueError(f"Unknown Swin size {size!r}; expected one of {sorted(SWIN)}.")
  embed, depths, heads, drop_path = SWIN[size]
  b = ml_collections.ConfigDict()
  b.name = "swin"
  b.embed_dims = embed
  b.depths = depths
  b.num_heads = heads
  b.window_size = 7
  b.mlp_ratio = 4.0
  b.patch_size = 4
  b.drop_path_rate = drop_path       # stochastic depth, linear over all 24 blocks.
  b.frozen_stages = -1               # nothing frozen.
  b.remat = False                    # torch `with_cp` (False in the KITTI-STEP configs).
  config.model.backbone = b
  # FPN in_channels (128, 256, 512, 1024) / (192, 384, 768, 1536) follow from embed_dims.
  config.model.fpn.in_channels = tuple(embed * 2**i for i in range(4))
  # bf16 compute on GPU/TPU, float32 on CPU (resolved at run time, `video_knet.compute_dtype`).
  config.model.dtype = "auto"


def apply_fusion_and_update_link(config: ml_collections.ConfigDict) -> None:
  """The Swin KITTI-STEP `..._joint_update` heads: kernel fusion + "update" link."""
  t = config.model.temporal
  t.fusion = True          # previous_link='update_dynamic_cov' (suffix _link).
  t.link_type = "update"   # previous_type='update' (suffix _track).


def apply_swin_debug(config: ml_collections.ConfigDict) -> None:
  """A tiny Swin (after the dataset's own debug shrink): 4 stages, 2 blocks each, window 7."""
  b = config.model.backbone
  b.embed_dims = 16
  b.depths = (2, 2, 2, 2)   # keeps a shifted block in every stage.
  b.num_heads = (1, 2, 4, 8)
  config.model.fpn.in_channels = tuple(b.embed_dims * 2**i for i in range(4))


def apply_image_knet_swin(config: ml_collections.ConfigDict, size: str) -> None:
  """The Cityscapes-STEP image K-Net Swin recipe's model (`knet_s3_swin_{b,l}_fpn.py`).

  For `configs/cityscapes_step.py:swin_b`: the Swin backbone on the image K-Net
  (`config.model.temporal.enabled=False`: no linking, fusion or embedding head);
  the original trains it with samples_per_gpu=1 (its R50 form: 2).
  """
  apply_swin_backbone(config, size)
  config.model.temporal.enabled = False
