"""TFDS builder for Cityscapes-STEP (image K-Net pretraining, one example per image).

Reads the official Cityscapes tree (after cityscapesscripts'
`createTrainIdLabelImgs` and `createTrainIdInstanceImgs`):
  leftImg8bit/{split}/<city>/<city>_<seq %06d>_<frame %06d>_leftImg8bit.png
  gtFine/{split}/<city>/<stem>_gtFine_labelTrainIds.png      (8-bit L)
  gtFine/{split}/<city>/<stem>_gtFine_instanceTrainIds.png   (16-bit)
and stores the KITTI-STEP example layout (`datasets/frame_examples.py`):
R = trainId, G * 256 + B = k + 1 for the k-th person/car instance of the
image (Cityscapes numbers instances from 0; STEP keeps 0 for "none").
Every image is its own sequence (sequence_id = its rank in the sorted split,
frame_index 0), so clip sampling sees single-frame videos.
"""
import dataclasses
import re

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from video_knet_jax.datasets import builder_base
from video_knet_jax.datasets import errors
from video_knet_jax.datasets import frame_examples
from video_knet_jax.datasets.cityscapes_step import facts as facts_lib

_NAME = re.compile(r"^([a-z_]+)_(\d{6})_(\d{6})_leftImg8bit\.png$")
_LABEL_SUFFIX = "_gtFine_labelTrainIds.png"
_INSTANCE_SUFFIX = "_gtFine_instanceTrainIds.png"
_SIXTEEN_BIT = ("I", "I;16")


@dataclasses.dataclass(eq=False)
class CityscapesStepConfig(tfds.core.BuilderConfig):
  facts: frame_examples.PanopticFacts = dataclasses.field(
      default=facts_lib.CITYSCAPES_STEP, repr=False)


class Builder(builder_base.FrameBuilder):
  """Cityscapes fine images with STEP panoptic labels (2 things, 17 stuff)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [CityscapesStepConfig(
      name="cityscapes_step", description="Cityscapes-STEP (manual download).")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Download leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from
  https://www.cityscapes-dataset.com (login required), unzip both into the
  manual dir, then create the trainId PNGs with cityscapesscripts:
    CITYSCAPES_DATASET=<manual dir> csCreateTrainIdLabelImgs
    CITYSCAPES_DATASET=<manual dir> csCreateTrainIdInstanceImgs
  giving leftImg8bit/{train,val,test}/<city>/<stem>_leftImg8bit.png and
  gtFine/{train,val}/<city>/<stem>_gtFine_{labelTrainIds,instanceTrainIds}.png
  (docs/DATA.md).
  """

  DESCRIPTION = ("Cityscapes fine images, STEP panoptic labels ({name}); "
                 "one image per sequence.")
  HOMEPAGE = "https://www.cityscapes-dataset.com"

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = self._manual_dir(dl_manager)
    if not (root / "leftImg8bit").is_dir():
      raise errors.MissingManualDirError(
          f"Cityscapes manual directory {root} has no leftImg8bit/; see "
          "docs/DATA.md.")
    generators = {}
    for split in self.facts.splits:
      labelled = split in self.facts.labelled_splits
      images = find_images(root, split)
      self.facts.check_split_size(root, split, len(images), len(images))
      generators[split] = self._generate_examples(root, split, images, labelled)
    return generators

  def _generate_examples(self, root, split, images, labelled):
    for index, image_path in enumerate(images):
      image_bytes, _, size = frame_examples.read_image(
          image_path, ("PNG",), ("RGB",))
      file_name = str(image_path.relative_to(root))
      if not labelled:
        yield index, frame_examples.unlabelled_example(
            self.facts, image_bytes, size, sequence_id=index, frame_index=0,
            file_name=file_name)
        continue
      semantic, track, label_path = read_label(
          root, split, image_path, size, self.facts.thing_ids)
      yield index, frame_examples.labelled_example(
          self.facts, label_path, image_bytes, semantic, track,
          sequence_id=index, frame_index=0, file_name=file_name)


def find_images(root: epath.Path, split: str) -> list[epath.Path]:
  """The split's images sorted by (city, sequence, frame)."""
  split_dir = root / "leftImg8bit" / split
  if not split_dir.is_dir():
    raise errors.MissingSplitError(
        f"Split {split!r}: directory {split_dir} does not exist.")
  found = []
  for city_dir in split_dir.iterdir():
    if not city_dir.is_dir():
      continue
    for path in city_dir.iterdir():
      match = _NAME.match(path.name)
      if match is None:
        if path.name.endswith(".png"):
          raise errors.StepFormatError(
              f"{path}: expected a name like "
              f"{city_dir.name}_000000_000019_leftImg8bit.png.")
        continue
      if match.group(1) != city_dir.name:
        raise errors.StepFormatError(
            f"{path} is in directory {city_dir.name!r} but names city "
            f"{match.group(1)!r}.")
      found.append((match.group(1), int(match.group(2)), int(match.group(3)),
                    path))
  return [path for *_, path in sorted(found)]


def read_label(root, split, image_path, image_size, thing_ids):
  """(semantic [H, W], track [H, W], labelTrainIds path) of one image."""
  stem = image_path.name[:-len("_leftImg8bit.png")]
  gt_dir = root / "gtFine" / split / image_path.parent.name
  label_path = gt_dir / (stem + _LABEL_SUFFIX)
  instance_path = gt_dir / (stem + _INSTANCE_SUFFIX)
  for path in (label_path, instance_path):
    if not path.exists():
      raise errors.MissingLabelError(
          f"Image {image_path} has no label {path} (split {split!r}).")
  _, label, size = frame_examples.read_image(label_path, ("PNG",), ("L",))
  frame_examples.check_same_size(label_path, size, image_path, image_size)
  _, instance, size = frame_examples.read_image(instance_path, ("PNG",),
                                                _SIXTEEN_BIT)
  frame_examples.check_same_size(instance_path, size, image_path, image_size)
  label = label.astype(np.int64)
  instance = instance.astype(np.int64)
  has_instance = instance >= facts_lib.INSTANCE_DIVISOR
  class_of_instance = np.where(
      has_instance, instance // facts_lib.INSTANCE_DIVISOR, instance)
  disagree = class_of_instance != label
  if disagree.any():
    y, x = (int(v[0]) for v in np.nonzero(disagree))
    raise errors.BadLabelValueError(
        f"{instance_path} pixel (y={y}, x={x}) holds {instance[y, x]} (class "
        f"{class_of_instance[y, x]}) but {label_path} says class "
        f"{label[y, x]}.")
  is_step_thing = has_instance & np.isin(label, thing_ids)
  track = np.where(is_step_thing,
                   instance % facts_lib.INSTANCE_DIVISOR + 1, 0)
  return label, track, label_path
