"""TFDS builder for VIPSeg at 720p, one example per frame.

Reads the tree the data set's own scripts produce (docs/DATA.md):
`change2_720p.py` (frames resized to height 720, bilinear; masks nearest),
`create_panoptic_video_labels.py` and `splitjson.py`:
  VIPSeg_720P/images/<video>/<frame>.jpg
  VIPSeg_720P/panomasksRGB/<video>/<frame>.png     COCO panoptic RGB ids
  VIPSeg_720P/panoptic_gt_VIPSeg_{train,val}.json  per-video segments
  VIPSeg_720P/panoVIPSeg_categories.json
  VIPSeg_720P/{train,val,test}.txt                 the data set's video lists
(test: images only, no labels; the split is built when test.txt is there)
sequence_id is the video's line in its list and frame_index its rank among
the video's frames sorted by name (as Video K-Net's `vipseg_dvps.py`). The
JPEG bytes are stored unchanged; labels go to the KITTI-STEP layout
(`datasets/frame_examples.py`) with R = VIPSeg class id 0..123, 255 = void.
"""
import dataclasses

import tensorflow_datasets as tfds
from etils import epath

from video_knet_jax.datasets import builder_base
from video_knet_jax.datasets import coco_panoptic_video
from video_knet_jax.datasets import errors
from video_knet_jax.datasets import frame_examples
from video_knet_jax.datasets.vipseg import facts as facts_lib

CATEGORIES_JSON = "panoVIPSeg_categories.json"
IMAGE_DIR, LABEL_DIR = "images", "panomasksRGB"


@dataclasses.dataclass(eq=False)
class VipsegConfig(tfds.core.BuilderConfig):
  facts: frame_examples.PanopticFacts = dataclasses.field(
      default=facts_lib.VIPSEG, repr=False)


class Builder(builder_base.FrameBuilder):
  """VIPSeg video panoptic segmentation (124 classes), one example per frame."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "Initial release.",
                   "1.1.0": "The unlabelled test split (test.txt)."}
  BUILDER_CONFIGS = [VipsegConfig(name="vipseg_720p",
                                  description="VIPSeg 720p (manual download).")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Download VIPSeg (https://github.com/VIPSeg-Dataset/VIPSeg-Dataset), then
  in the unpacked folder run the data set's scripts change2_720p.py,
  create_panoptic_video_labels.py and splitjson.py, copy train.txt, val.txt,
  test.txt and panoVIPSeg_categories.json into VIPSeg_720P/, and point the manual dir
  at VIPSeg_720P/ (docs/DATA.md).
  """

  DESCRIPTION = ("VIPSeg 720p frames; label R = class id (0..123), "
                 "G*256+B = track id (per video).")
  HOMEPAGE = "https://github.com/VIPSeg-Dataset/VIPSeg-Dataset"
  IMAGE_FORMAT = "jpeg"

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = self._manual_dir(dl_manager)
    if not (root / IMAGE_DIR).is_dir():
      raise errors.MissingManualDirError(
          f"VIPSeg manual directory {root} has no {IMAGE_DIR}/; point it at "
          "VIPSeg_720P/ (see docs/DATA.md).")
    check_categories(root / CATEGORIES_JSON, self.facts)
    generators = {}
    for split in self.facts.splits:
      labelled = split in self.facts.labelled_splits
      if not labelled and not (root / f"{split}.txt").exists():
        continue          # a download without the test list: train and val.
      videos = read_video_list(root / f"{split}.txt")
      frames = (find_frames(root, split, videos) if labelled
                else find_unlabelled_frames(root, split, videos))
      self.facts.check_split_size(root, split, len(videos), len(frames))
      generators[split] = self._generate_examples(root, frames)
    return generators

  def _generate_examples(self, root, frames):
    yield from coco_panoptic_video.examples(self.facts, root, frames, "JPEG")


def read_video_list(path: epath.Path) -> list[str]:
  if not path.exists():
    raise errors.MissingSplitError(f"Missing video list {path}.")
  return [line.strip() for line in path.read_text().splitlines()
          if line.strip()]


def check_categories(path: epath.Path, facts) -> None:
  """The shipped category table must be the facts' (ids, names, things)."""
  categories = coco_panoptic_video.load_json(path)
  try:
    found = {int(c["id"]): (c["name"], bool(c["isthing"])) for c in categories}
  except (KeyError, TypeError, ValueError) as e:
    raise errors.BadJsonError(
        f"{path}: expected a list of {{id, name, isthing}}: {e!r}") from e
  expected = {c: (name, c in facts.thing_ids)
              for c, name in enumerate(facts.class_names)}
  if found != expected:
    diff = sorted(set(found.items()) ^ set(expected.items()))[:4]
    raise errors.UnknownCategoryError(
        f"{path} does not list {facts.name}'s {facts.num_classes} categories; "
        f"first differences (id, (name, isthing)): {diff}.")


def find_frames(root: epath.Path, split: str,
                videos: list[str]) -> list[coco_panoptic_video.Frame]:
  """Every frame of the split's videos with its label and JSON segments."""
  json_path = root / f"panoptic_gt_VIPSeg_{split}.json"
  data = coco_panoptic_video.load_json(json_path)
  try:
    per_video = {v["video_id"]: {a["file_name"]: a["segments_info"]
                                 for a in v["annotations"]}
                 for v in data["annotations"]}
  except (KeyError, TypeError) as e:
    raise errors.BadJsonError(
        f"{json_path}: expected annotations[{{video_id, annotations[{{"
        f"file_name, segments_info}}]}}]: {e!r}") from e
  unknown = sorted(set(per_video) - set(videos))
  if unknown:
    raise errors.BadJsonError(
        f"{json_path} has videos {unknown[:5]} that {split}.txt does not "
        "list.")
  frames = []
  for sequence_id, video in enumerate(videos):
    video_dir = root / IMAGE_DIR / video
    if not video_dir.is_dir():
      raise errors.MissingSplitError(
          f"Video {video} of {split}.txt: directory {video_dir} does not "
          "exist.")
    if video not in per_video:
      raise errors.MissingLabelError(
          f"Video {video} of {split}.txt has no entry in {json_path}.")
    annotations = dict(per_video[video])
    images = sorted(p for p in video_dir.iterdir() if p.suffix == ".jpg")
    for frame_index, image_path in enumerate(images):
      label_name = image_path.stem + ".png"
      label_path = root / LABEL_DIR / video / label_name
      segments = annotations.pop(label_name, None)
      if segments is None:
        raise errors.MissingLabelError(
            f"Image {image_path} has no entry in {json_path}.")
      if not label_path.exists():
        raise errors.MissingLabelError(
            f"{json_path} lists {video}/{label_name} but {label_path} does "
            "not exist.")
      frames.append(coco_panoptic_video.Frame(
          sequence_id, frame_index, image_path, label_path, tuple(segments)))
    if annotations:
      raise errors.MissingLabelError(
          f"{json_path} lists {video}/{min(annotations)}, which has no image "
          f"in {video_dir}.")
  return frames


def find_unlabelled_frames(root: epath.Path, split: str, videos: list[str]
                           ) -> list[coco_panoptic_video.Frame]:
  """Every frame of an unlabelled split's videos (test: images only)."""
  frames = []
  for sequence_id, video in enumerate(videos):
    video_dir = root / IMAGE_DIR / video
    if not video_dir.is_dir():
      raise errors.MissingSplitError(
          f"Video {video} of {split}.txt: directory {video_dir} does not "
          "exist.")
    images = sorted(p for p in video_dir.iterdir() if p.suffix == ".jpg")
    frames += [coco_panoptic_video.Frame(sequence_id, frame_index, path,
                                         None, None)
               for frame_index, path in enumerate(images)]
  return frames
