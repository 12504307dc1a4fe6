"""TFDS builder for Cityscapes-VPS, one example per frame.

Reads the tree mcahny/vps's `prepare_data` scripts leave in
`data/cityscapes_vps/` (docs/DATA.md):
  train/img/<name>_{newImg8bit|leftImg8bit}.png       labelled frames only
  val/img_all/<name>_..., test/img_all/<name>_...      all 30 frames per video
  {train,val}/panoptic_video/<name>_{final_mask|gtFine_color}.png
  panoptic_gt_{train,val}_city_vps.json                COCO panoptic segments
with <name> = <video %04d>_<counter %04d>_<city>_<seq %06d>_<frame %06d>.
The `_leftImg8bit` frame of a video is its 20th frame (index 19); the other
frames are placed by their Cityscapes frame number relative to it, so
frame_index is 0..29 and the labelled frames are 4, 9, ..., 29 in every split.
Labels are stored in the KITTI-STEP layout (`datasets/frame_examples.py`):
R = trainId, G * 256 + B = track id numbered per video (crowd and stuff 0).
"""
import collections
import dataclasses
import re

import tensorflow_datasets as tfds
from etils import epath

from video_knet_jax.datasets import builder_base
from video_knet_jax.datasets import coco_panoptic_video
from video_knet_jax.datasets import errors
from video_knet_jax.datasets import frame_examples
from video_knet_jax.datasets.cityscapes_vps import facts as facts_lib

_IMAGE_NAME = re.compile(
    r"^(\d{4})_(\d{4})_([a-z_]+)_(\d{6})_(\d{6})_(newImg8bit|leftImg8bit)\.png$")
_FINE_SUFFIX = "leftImg8bit"
IMAGE_DIRS = {"train": "img", "val": "img_all", "test": "img_all"}


@dataclasses.dataclass(eq=False)
class CityscapesVpsConfig(tfds.core.BuilderConfig):
  facts: frame_examples.PanopticFacts = dataclasses.field(
      default=facts_lib.CITYSCAPES_VPS, repr=False)


class Builder(builder_base.FrameBuilder):
  """Cityscapes-VPS video panoptic segmentation, one example per frame."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [CityscapesVpsConfig(
      name="cityscapes_vps", description="Cityscapes-VPS (manual download).")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Cityscapes-VPS needs Cityscapes' leftImg8bit_sequence (login at
  https://www.cityscapes-dataset.com) and the VPS labels of
  https://github.com/mcahny/vps (docs/DATASET.md there). Run its
  prepare_data scripts (fetch_city_images.py, create_panoptic_labels.py,
  create_panoptic_video_labels.py --mode train and --mode val), then point the
  manual dir at data/cityscapes_vps/, which must hold
    train/img/, val/img_all/, test/img_all/,
    {train,val}/panoptic_video/, panoptic_gt_{train,val}_city_vps.json
  (docs/DATA.md).
  """

  DESCRIPTION = ("Cityscapes-VPS frames; label R = trainId, G*256+B = "
                 "track id (per video).")
  HOMEPAGE = "https://github.com/mcahny/vps"

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = self._manual_dir(dl_manager)
    if not root.is_dir() or not any(root.iterdir()):
      raise errors.MissingManualDirError(
          f"Cityscapes-VPS manual directory {root} is missing or empty; see "
          "docs/DATA.md.")
    generators = {}
    for split in self.facts.splits:
      frames = find_frames(root, split, split in self.facts.labelled_splits)
      videos = {f.sequence_id for f in frames}
      self.facts.check_split_size(root, split, len(videos), len(frames))
      generators[split] = self._generate_examples(root, frames)
    return generators

  def _generate_examples(self, root, frames):
    yield from coco_panoptic_video.examples(self.facts, root, frames, "PNG")


def label_name(image_name: str) -> str:
  """The panoptic_video PNG name of an image (the prepare scripts' rule)."""
  return (image_name.replace("_newImg8bit.png", "_final_mask.png")
          .replace("_leftImg8bit.png", "_gtFine_color.png"))


def find_frames(root: epath.Path, split: str,
                labelled: bool) -> list[coco_panoptic_video.Frame]:
  """The split's frames sorted by (video, frame_index), labels attached."""
  image_dir = root / split / IMAGE_DIRS[split]
  if not image_dir.is_dir():
    raise errors.MissingSplitError(
        f"Split {split!r}: directory {image_dir} does not exist.")
  by_video = collections.defaultdict(list)
  for path in image_dir.iterdir():
    match = _IMAGE_NAME.match(path.name)
    if match is None:
      if path.name.endswith(".png"):
        raise errors.StepFormatError(
            f"{path}: expected a name like "
            "0001_0004_frankfurt_000000_001736_newImg8bit.png.")
      continue
    by_video[int(match.group(1))].append(
        (int(match.group(5)), match.group(6) == _FINE_SUFFIX, path))
  annotations = _annotations(root, split) if labelled else {}
  frames = []
  for video in sorted(by_video):
    entries = sorted(by_video[video], key=lambda e: e[0])
    fine = [number for number, is_fine, _ in entries if is_fine]
    if len(fine) != 1:
      raise errors.MissingSplitError(
          f"Video {video:04d} in {image_dir} has {len(fine)} _leftImg8bit "
          "frames; each video has exactly one (its 20th frame).")
    first = fine[0] - facts_lib.FINE_FRAME_INDEX
    for number, _, path in entries:
      index = number - first
      if not 0 <= index < facts_lib.FRAMES_PER_VIDEO:
        raise errors.StepFormatError(
            f"{path} is frame {index} of video {video:04d}; frames must lie "
            f"within {facts_lib.FRAMES_PER_VIDEO} of its _leftImg8bit frame.")
      entry = annotations.pop(path.name, None)
      label_path, segments = None, None
      if entry is not None:
        label_path = root / split / "panoptic_video" / entry["file_name"]
        if not label_path.exists():
          raise errors.MissingLabelError(
              f"{_json_path(root, split)} lists {entry['file_name']} but "
              f"{label_path} does not exist.")
        segments = tuple(entry["segments_info"])
      frames.append(coco_panoptic_video.Frame(video, index, path, label_path,
                                              segments))
  if annotations:
    name = min(annotations)
    raise errors.MissingLabelError(
        f"{_json_path(root, split)} has an entry for image {name}, which is "
        f"not in {image_dir}.")
  _check_unlisted_labels(root, split, frames, labelled)
  return frames


def _json_path(root, split):
  return root / f"panoptic_gt_{split}_city_vps.json"


def _annotations(root, split) -> dict[str, dict]:
  """Image file name -> its annotation ({file_name, segments_info})."""
  path = _json_path(root, split)
  data = coco_panoptic_video.load_json(path)
  try:
    names = {image["id"]: image["file_name"] for image in data["images"]}
    out = {}
    for ann in data["annotations"]:
      name = names[ann["image_id"]]
      if name in out:
        raise errors.IdCollisionError(
            f"{path} has two annotations for image {name}.")
      out[name] = {"file_name": ann["file_name"],
                   "segments_info": ann["segments_info"]}
  except (KeyError, TypeError) as e:
    raise errors.BadJsonError(
        f"{path} is not a COCO panoptic JSON (images, annotations with "
        f"image_id, file_name, segments_info): {e!r}") from e
  return out


def _check_unlisted_labels(root, split, frames, labelled) -> None:
  """A label PNG without a JSON entry means the JSON and tree disagree."""
  if not labelled:
    return
  label_dir = root / split / "panoptic_video"
  if not label_dir.is_dir():
    raise errors.MissingSplitError(
        f"Split {split!r}: directory {label_dir} does not exist.")
  used = {f.label_path.name for f in frames if f.label_path is not None}
  for path in sorted(label_dir.iterdir()):
    if path.name.endswith(".png") and path.name not in used:
      raise errors.MissingLabelError(
          f"Label {path} has no entry in {_json_path(root, split)}.")
