"""The original state_dict layouts (key, shape, dtype, in registration order).

`reference_keys/*.tsv` list the tensors the original PyTorch code builds for the
KITTI-STEP R50 / Swin-B / Swin-L Video K-Net, the VIPSeg R50 / Swin-B Video K-Net,
the Cityscapes-STEP R50 / Swin-B image K-Net (the reference's section 8;
shared/reference/original_state_dict_keys_*.json), the YouTube-VIS KNetTrack
(FPN or deformable neck) and the COCO image K-Nets. They serve as the strict
export target in tests and as the source of the registration order for any
exported key set.
"""
import functools
import os
import re
from typing import Iterable, NamedTuple

VIDEO_KNET_R50 = "video_knet_r50"
KNET_IMAGE_R50 = "knet_image_r50"
VIDEO_KNET_SWINB = "video_knet_swinb"
VIDEO_KNET_SWINL = "video_knet_swinl"
KNET_IMAGE_SWINB = "knet_image_swinb"
VIDEO_KNET_VIPSEG_R50 = "video_knet_vipseg_r50"   # 124 classes (58 things).
VIDEO_KNET_VIPSEG_SWINB = "video_knet_vipseg_swinb"
# YouTube-VIS KNetTrack (models/knet_track.py): roi_head + clip-level tracker.
VIS_R50_YTVIS = "vis_r50_ytvis"
VIS_SWINB_YTVIS = "vis_swinb_ytvis"
# The same with the MSDeformAttnPixelDecoder neck (models/msdeform_pixel_decoder.py).
VIS_R50_DEFORMABLE_YTVIS = "vis_r50_deformable_ytvis"
VIS_SWINB_DEFORMABLE_YTVIS = "vis_swinb_deformable_ytvis"
# COCO image K-Nets (configs/coco.py): 80 thing classes, FPN or deformable neck.
KNET_COCO_R50 = "knet_coco_r50"
KNET_COCO_R50_DEFORMABLE = "knet_coco_r50_deformable"
KNET_COCO_SWINB_DEFORMABLE = "knet_coco_swinb_deformable"
ALL = (VIDEO_KNET_R50, KNET_IMAGE_R50, VIDEO_KNET_SWINB, VIDEO_KNET_SWINL, KNET_IMAGE_SWINB,
       VIDEO_KNET_VIPSEG_R50, VIDEO_KNET_VIPSEG_SWINB, VIS_R50_YTVIS, VIS_SWINB_YTVIS,
       VIS_R50_DEFORMABLE_YTVIS, VIS_SWINB_DEFORMABLE_YTVIS, KNET_COCO_R50,
       KNET_COCO_R50_DEFORMABLE, KNET_COCO_SWINB_DEFORMABLE)
# Lists whose registration orders together cover every module family (ResNet,
# Swin, ffn link, fusion + update link, clip-level tracker, deformable neck);
# see `registration_sort_key`.
ORDER_SOURCES = (VIDEO_KNET_R50, VIDEO_KNET_SWINB, VIS_R50_YTVIS, VIS_R50_DEFORMABLE_YTVIS)

_DIR = os.path.join(os.path.dirname(__file__), "reference_keys")


class Entry(NamedTuple):
  key: str
  shape: tuple[int, ...]
  dtype: str


@functools.lru_cache(maxsize=None)
def load(name: str) -> tuple[Entry, ...]:
  """Entries of `reference_keys/{name}.tsv`, in the original registration order."""
  path = os.path.join(_DIR, name + ".tsv")
  if not os.path.exists(path):
    raise ValueError(f"No reference key list {path!r}; known: {', '.join(ALL)}.")
  entries = []
  with open(path) as f:
    for line in f:
      if line.startswith("#") or not line.strip():
        continue
      key, shape, dtype = line.rstrip("\n").split("\t")
      entries.append(Entry(key, tuple(int(d) for d in shape.split(",") if d), dtype))
  return tuple(entries)


def _pattern(parts: Iterable[str]) -> tuple[str, ...]:
  return tuple("#" if p.isdigit() else p for p in parts)


@functools.lru_cache(maxsize=None)
def _child_order(names: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, int]]:
  """For each parent (digits as '#'), the order its named children were registered.

  Several lists merge: a name first seen in a later list ranks after the
  earlier lists' names under the same parent (one model never mixes
  families), except in the lists of `_IN_PLACE`, whose new names go right
  after the name that precedes them in that list (first if none): the
  deformable neck's `input_convs`, `encoder`, ... come before the FPN's
  `lateral_convs` it shares.
  """
  merged: dict[tuple[str, ...], list[str]] = {}
  for name in names:
    previous: dict[tuple[str, ...], str] = {}   # parent -> last child seen in this list.
    for entry in load(name):
      parts = entry.key.split(".")
      for i, part in enumerate(parts):
        if part.isdigit():
          continue
        parent = _pattern(parts[:i])
        children = merged.setdefault(parent, [])
        if part not in children:
          before = previous.get(parent)
          if name not in _IN_PLACE:
            children.append(part)
          else:
            children.insert(children.index(before) + 1 if before else 0, part)
        previous[parent] = part
  order = {parent: {c: r for r, c in enumerate(children)}
           for parent, children in merged.items()}
  for parent, children in _ORDER_HINTS.items():
    for part, rank in children.items():
      order.setdefault(parent, {}).setdefault(part, rank)
  return order


# Lists whose new children keep their place among known ones (see _child_order).
_IN_PLACE = (VIS_R50_DEFORMABLE_YTVIS,)

# Children that no reference list holds, ranked among those that one does:
# QDTrack's embed head (the RoI-Align ablation) registers `convs` before `fcs`
# and `fc_embed` (`knet/video/track_heads.py` QuasiDenseMaskEmbedHead.__init__),
# each mmcv ConvModule its conv before its norm, a norm its weight before its bias.
_ORDER_HINTS = {("track_head",): {"convs": -1},
                ("track_head", "convs", "#"): {"conv": 0, "gn": 1},
                ("track_head", "convs", "#", "gn"): {"weight": 0, "bias": 1}}


def registration_sort_key(key: str, reference: tuple[str, ...] = ORDER_SOURCES):
  """Sort key putting torch keys in the original module registration order.

  Generalises the reference order to other depths/widths: ModuleList indices
  sort numerically, named children by their first appearance under the same
  parent in the reference; names the reference lacks go last, alphabetically.
  """
  order = _child_order((reference,) if isinstance(reference, str) else tuple(reference))
  parts = key.split(".")
  out = []
  for i, part in enumerate(parts):
    if part.isdigit():
      out.append((0, int(part), ""))
    else:
      rank = order.get(_pattern(parts[:i]), {}).get(part)
      out.append((0, rank, "") if rank is not None else (1, 0, part))
  return tuple(out)


def sort_keys(keys: Iterable[str], reference: tuple[str, ...] = ORDER_SOURCES) -> list[str]:
  return sorted(keys, key=functools.partial(registration_sort_key, reference=reference))


# Tensors of the temporal (video-only) modules, for source-kind rules
# (`attention_previous*` / `link_ffn*` cover the ffn link, the update link
# `*_track` and the fusion `*_link` layers).
TEMPORAL_KEY = re.compile(
    r"^(?:roi_head\.mask_head\.\d+\.(?:attention_previous|link_ffn)\w*\.|track_head\.|"
    r"embed_fcs\.|fc_embed\.)")

# Linking/fusion tensors of one stage: group 1 = stage index, group 2 = the rest.
# The original builds them in every stage and uses only the last one's.
STAGE_LINK_KEY = re.compile(
    r"^roi_head\.mask_head\.(\d+)\.((?:attention_previous|link_ffn)\w*\..*)$")
