"""TFDS builder for COCO 2017 panoptic segmentation (one example per image).

Reads the official tree from the manual dir:
  train2017/<id %012d>.jpg, val2017/...
  annotations/panoptic_{train,val}2017.json
  annotations/panoptic_{train,val}2017/<id %012d>.png   (panopticapi RGB ids:
      id = R + 256 G + 65536 B, 0 = void; unzipped from the annotations' zips)
and stores the frame-level panoptic layout every panoptic builder here shares
(`datasets/frame_examples.py`): R = class index (the 80 things 0..79, then the
53 stuff classes 80..132; 255 void), G * 256 + B = 1, 2, ... for the image's
non-crowd thing segments in JSON order (0 for stuff, crowd and void). Every
image is its own sequence (sequence_id = its rank by image id, frame_index 0),
so the clip sampler sees single-frame videos, as for Cityscapes-STEP. PNG and
JSON are checked against each other (ids, areas, categories) as for VIPSeg.
"""
import dataclasses
import os

import tensorflow_datasets as tfds
from etils import epath

from video_knet_jax.datasets import builder_base
from video_knet_jax.datasets import coco_panoptic_video
from video_knet_jax.datasets import frame_examples
from video_knet_jax.datasets.coco import annotations
from video_knet_jax.datasets.coco import errors
from video_knet_jax.datasets.coco import facts as coco_facts
from video_knet_jax.datasets.coco import images as coco_images


@dataclasses.dataclass(eq=False)
class CocoPanopticConfig(tfds.core.BuilderConfig):
  facts: frame_examples.PanopticFacts = dataclasses.field(
      default=coco_facts.COCO_PANOPTIC, repr=False)


@dataclasses.dataclass(frozen=True)
class PanopticImage:
  rank: int
  image: annotations.Image
  label_path: str
  segments: tuple


class Builder(builder_base.FrameBuilder):
  """COCO 2017 panoptic (80 things, 53 stuff) in the shared panoptic frame layout."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [CocoPanopticConfig(
      name="coco_panoptic_2017", description="COCO 2017 panoptic (manual download).")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Download train2017.zip, val2017.zip and panoptic_annotations_trainval2017.zip
  from https://cocodataset.org/#download; unzip the images into the manual dir,
  the annotations zip into it too, then annotations/panoptic_{train,val}2017.zip
  inside annotations/, giving
    train2017/*.jpg  val2017/*.jpg
    annotations/panoptic_{train,val}2017.json
    annotations/panoptic_{train,val}2017/*.png
  (docs/DATA.md).
  """
  DESCRIPTION = ("COCO 2017 panoptic ({name}); one image per sequence, class index = "
                 "position in the 133 categories.")
  HOMEPAGE = "https://cocodataset.org"

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = os.fspath(self._manual_dir(dl_manager))
    generators = {}
    for split in self.facts.splits:
      entries = find_images(root, split)
      self.facts.check_split_size(root, split, len(entries), len(entries))
      generators[split] = self._generate_examples(root, split, entries)
    return generators

  def _generate_examples(self, root, split, entries):
    class_of = {c[0]: (k, bool(c[3])) for k, c in enumerate(coco_facts.CATEGORIES)}
    json_path = os.path.join(root, coco_facts.PANOPTIC_JSON.format(split=split))
    for entry in entries:
      image_path = os.path.join(root, coco_facts.IMAGE_DIR.format(split=split),
                                entry.image.file_name)
      image_bytes = coco_images.read_checked(image_path, entry.image, json_path)
      size = (entry.image.height, entry.image.width)
      if not os.path.isfile(entry.label_path):
        raise errors.MissingImageError(
            f"{json_path} lists {os.path.basename(entry.label_path)} for image "
            f"{entry.image.image_id}, but {entry.label_path} does not exist.")
      _, rgb, label_size = frame_examples.read_image(entry.label_path, ("PNG",), ("RGB",),
                                                     errors.BadPngError)
      frame_examples.check_same_size(entry.label_path, label_size, image_path, size)
      # A fresh numbering per image: segment ids name segments within one image.
      tracks = coco_panoptic_video.VideoTracks(class_of, self.facts.void_label)
      semantic, track = tracks.decode(epath.Path(entry.label_path),
                                      coco_panoptic_video.rgb_to_id(rgb),
                                      list(entry.segments))
      yield frame_examples.example_key(entry.rank, 0), frame_examples.labelled_example(
          self.facts, entry.label_path, image_bytes, semantic, track,
          sequence_id=entry.rank, frame_index=0, file_name=os.path.relpath(image_path, root))


def find_images(root: str, split: str) -> list[PanopticImage]:
  """The split's images by id with their PNG and segments, JSON checked."""
  json_path = os.path.join(root, coco_facts.PANOPTIC_JSON.format(split=split))
  if not os.path.isfile(json_path):
    raise errors.MissingSplitError(
        f"Split {split!r}: no {json_path} (unzip panoptic_annotations_trainval2017.zip into "
        f"{root}; docs/DATA.md).")
  png_dir = os.path.join(root, coco_facts.PANOPTIC_PNG_DIR.format(split=split))
  if not os.path.isdir(png_dir):
    raise errors.MissingSplitError(
        f"Split {split!r}: no PNG directory {png_dir} (unzip "
        f"annotations/panoptic_{split}2017.zip inside annotations/).")
  data = annotations.load_json(json_path)
  annotations.check_categories(json_path, annotations.field(data, "categories", json_path),
                               coco_facts.CATEGORIES, with_isthing=True)
  images = annotations.load_images(json_path, data)
  per_image = {}
  for a in annotations.field(data, "annotations", json_path):
    try:
      image_id, file_name = int(a["image_id"]), str(a["file_name"])
      segments = tuple(a["segments_info"])
    except (KeyError, TypeError, ValueError) as e:
      raise errors.BadJsonError(f"{json_path}: a panoptic annotation needs image_id, "
                                f"file_name and segments_info: {e!r}") from e
    if image_id not in images:
      raise errors.UnknownImageError(f"{json_path}: the annotation of {file_name} names "
                                     f"image {image_id}, which 'images' lacks.")
    if image_id in per_image:
      raise errors.IdCollisionError(f"{json_path}: image {image_id} has two annotations.")
    per_image[image_id] = (os.path.join(png_dir, file_name), segments)
  missing = sorted(set(images) - set(per_image))
  if missing:
    raise errors.MissingImageError(f"{json_path}: images {missing[:5]} have no panoptic "
                                   "annotation.")
  return [PanopticImage(rank, images[k], *per_image[k])
          for rank, k in enumerate(sorted(images))]
