"""Finds the frames of a KITTI-STEP tree in either layout people keep on disk.

DeepLab2 layout (what DeepLab2's setup produces):
  images/{split}/{seq:04d}/{frame:06d}.png
  panoptic_maps/{split}/{seq:04d}/{frame:06d}.png          (train, val)
Video K-Net layout (flat, `scripts/kitti_step_prepare.py` of the original):
  video_sequence/{split}/{seq:06d}_{frame:06d}_leftImg8bit.png
  video_sequence/{split}/{seq:06d}_{frame:06d}_panoptic.png (train, val)
"""
import dataclasses
import re

from etils import epath

from video_knet_jax.datasets.kitti_step import errors

DEEPLAB2 = "deeplab2"
VIDEO_KNET = "video_knet"

_DEEPLAB2_NAME = re.compile(r"^(\d+)\.png$")
_VIDEO_KNET_NAME = re.compile(r"^(\d+)_(\d+)_(leftImg8bit|panoptic)\.png$")


@dataclasses.dataclass(frozen=True)
class FrameFiles:
  """One frame: where its image and (optional) label PNG are."""
  sequence_id: int
  frame_index: int
  image_path: epath.Path
  label_path: epath.Path | None


def detect_layout(manual_dir: epath.PathLike) -> str:
  """Returns DEEPLAB2 or VIDEO_KNET; fails naming the directory otherwise."""
  root = epath.Path(manual_dir)
  if not root.is_dir() or not any(root.iterdir()):
    raise errors.MissingManualDirError(
        f"KITTI-STEP manual directory {root} is missing or empty; see "
        "docs/DATA.md for how to prepare it.")
  has_deeplab2 = (root / "images").is_dir()
  has_video_knet = (root / "video_sequence").is_dir()
  if has_deeplab2 and has_video_knet:
    raise errors.MissingManualDirError(
        f"{root} holds both images/ (DeepLab2 layout) and video_sequence/ "
        "(Video K-Net layout); keep one so the split contents are unambiguous.")
  if has_deeplab2:
    return DEEPLAB2
  if has_video_knet:
    return VIDEO_KNET
  raise errors.MissingManualDirError(
      f"{root} has neither images/ + panoptic_maps/ (DeepLab2 layout) nor "
      "video_sequence/ (Video K-Net layout); see docs/DATA.md.")


def find_frames(manual_dir: epath.PathLike, split: str,
                labelled: bool) -> list[FrameFiles]:
  """Lists a split's frames sorted by (sequence, frame), pairing labels."""
  root = epath.Path(manual_dir)
  layout = detect_layout(root)
  if layout == DEEPLAB2:
    images, labels = _scan_deeplab2(root, split, labelled)
  else:
    images, labels = _scan_video_knet(root, split, labelled)
  frames = []
  for key in sorted(images):
    label = labels.pop(key, None)
    if labelled and label is None:
      raise errors.MissingLabelError(
          f"Image {images[key]} has no panoptic label PNG (split {split!r}).")
    frames.append(FrameFiles(key[0], key[1], images[key], label))
  if labels:
    orphan = labels[min(labels)]
    raise errors.MissingLabelError(
        f"Label {orphan} has no matching image (split {split!r}).")
  return frames


def _require_dir(path: epath.Path, split: str) -> None:
  if not path.is_dir():
    raise errors.MissingSplitError(
        f"Split {split!r}: directory {path} does not exist.")


def _scan_deeplab2(root, split, labelled):
  """Reads images/{split}/{seq}/{frame}.png and panoptic_maps/... ."""
  out = []
  kinds = ("images", "panoptic_maps") if labelled else ("images",)
  for kind in kinds:
    split_dir = root / kind / split
    _require_dir(split_dir, split)
    found = {}
    for seq_dir in split_dir.iterdir():
      if not seq_dir.is_dir():
        continue
      if not seq_dir.name.isdigit():
        raise errors.StepFormatError(
            f"{seq_dir}: sequence directories must be named by number.")
      for path in seq_dir.iterdir():
        match = _DEEPLAB2_NAME.match(path.name)
        if match is None:
          if path.name.endswith(".png"):
            raise errors.StepFormatError(
                f"{path}: expected a frame name like 000042.png.")
          continue
        found[(int(seq_dir.name), int(match.group(1)))] = path
    out.append(found)
  return out[0], (out[1] if labelled else {})


def _scan_video_knet(root, split, labelled):
  """Reads video_sequence/{split}/{seq}_{frame}_{leftImg8bit|panoptic}.png."""
  split_dir = root / "video_sequence" / split
  _require_dir(split_dir, split)
  images, labels = {}, {}
  for path in split_dir.iterdir():
    match = _VIDEO_KNET_NAME.match(path.name)
    if match is None:
      if path.name.endswith(".png"):
        raise errors.StepFormatError(
            f"{path}: expected a name like 000003_000042_leftImg8bit.png or "
            "000003_000042_panoptic.png.")
      continue
    key = (int(match.group(1)), int(match.group(2)))
    if match.group(3) == "leftImg8bit":
      images[key] = path
    elif labelled:
      labels[key] = path
  return images, labels
