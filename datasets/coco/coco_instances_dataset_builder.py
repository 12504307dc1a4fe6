"""TFDS builder for COCO 2017 instance segmentation (one example per image).

Reads the official tree from the manual dir:
  train2017/<id %012d>.jpg, val2017/...
  annotations/instances_{train,val}2017.json
and stores, per image in image-id order (every annotation kept, crowd too):
  image           the source JPEG bytes unchanged (a few COCO images are
                  grayscale; they decode to 3 channels).
  image_id        int64; file_name: relative to the manual dir.
  annotation_ids  [N] int64, in JSON order.
  labels          [N] int32 class index 0..79 (category id order).
  is_crowd        [N] bool (crowd regions: uncompressed RLE in the JSON).
  areas           [N] float32, boxes [N, 4] float32 (x, y, w, h), as the JSON.
  masks_rle       [N] compressed RLE counts (bytes) at the image size: polygons,
                  uncompressed and compressed RLE converted as pycocotools'
                  annToRLE does; `annotations.decode_masks` gives [N, H, W].
Images without annotations are kept (N = 0); mmdet's `filter_empty_gt` is the
input pipeline's business. Build from Python (datasets/build.py).
"""
import dataclasses
import os

import numpy as np
import tensorflow_datasets as tfds

from video_knet_jax.datasets import builder_base
from video_knet_jax.datasets.coco import annotations
from video_knet_jax.datasets.coco import errors
from video_knet_jax.datasets.coco import facts as coco_facts
from video_knet_jax.datasets.coco import images as coco_images


@dataclasses.dataclass(eq=False)
class CocoInstancesConfig(tfds.core.BuilderConfig):
  facts: object = dataclasses.field(default=coco_facts.COCO_INSTANCES, repr=False)


class Builder(builder_base.FrameBuilder):
  """COCO 2017 instances: images with per-instance RLE masks, labels and crowd flags."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [CocoInstancesConfig(
      name="coco_2017", description="COCO 2017 instances (manual download).")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Download train2017.zip, val2017.zip and annotations_trainval2017.zip from
  https://cocodataset.org/#download and unzip them into the manual dir:
    train2017/*.jpg  val2017/*.jpg
    annotations/instances_train2017.json  annotations/instances_val2017.json
  (docs/DATA.md).
  """
  DESCRIPTION = "COCO 2017 instance segmentation ({name}); one example per image."
  HOMEPAGE = "https://cocodataset.org"
  MANUAL_DIR_ERROR = errors.BadJsonError

  def _features(self) -> tfds.features.FeaturesDict:
    return tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
        "image_id": np.int64,
        "file_name": tfds.features.Text(),
        "annotation_ids": tfds.features.Tensor(shape=(None,), dtype=np.int64),
        "labels": tfds.features.Tensor(shape=(None,), dtype=np.int32),
        "is_crowd": tfds.features.Tensor(shape=(None,), dtype=np.bool_),
        "areas": tfds.features.Tensor(shape=(None,), dtype=np.float32),
        "boxes": tfds.features.Tensor(shape=(None, 4), dtype=np.float32),
        "masks_rle": tfds.features.Tensor(shape=(None,), dtype=np.object_),
    })

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = os.fspath(self._manual_dir(dl_manager))
    generators = {}
    for split in self.facts.splits:
      json_path = os.path.join(root, coco_facts.INSTANCES_JSON.format(split=split))
      if not os.path.isfile(json_path):
        raise errors.MissingSplitError(
            f"Split {split!r}: no {json_path} (unzip annotations_trainval2017.zip into "
            f"{root}; docs/DATA.md).")
      data = annotations.load_json(json_path)
      annotations.check_categories(json_path, annotations.field(data, "categories", json_path),
                                   coco_facts.THING_CATEGORIES, with_isthing=False)
      images, instances = annotations.load_instances(json_path, data,
                                                     coco_facts.THING_CATEGORY_IDS)
      del data
      self.facts.check_split_size(root, split, len(images), len(images))
      generators[split] = self._generate_examples(root, split, json_path, images, instances)
    return generators

  def _generate_examples(self, root, split, json_path, images, instances):
    label_of = coco_facts.class_index(coco_facts.THING_CATEGORIES)
    for image in images:
      path = os.path.join(root, coco_facts.IMAGE_DIR.format(split=split), image.file_name)
      data = coco_images.read_checked(path, image, json_path)
      objs = instances[image.image_id]
      yield image.image_id, {
          "image": data,
          "image_id": image.image_id,
          "file_name": os.path.relpath(path, root),
          "annotation_ids": np.asarray([o.annotation_id for o in objs], np.int64),
          "labels": np.asarray([label_of[o.category_id] for o in objs], np.int32),
          "is_crowd": np.asarray([o.is_crowd for o in objs], np.bool_),
          "areas": np.asarray([o.area for o in objs], np.float32),
          "boxes": np.asarray([o.bbox for o in objs], np.float32).reshape(-1, 4),
          "masks_rle": np.asarray([o.rle for o in objs], dtype=object),
      }
