"""Reads COCO 2017 annotation JSONs (instances and panoptic) and their segmentations.

instances_{split}2017.json (cocodataset/cocoapi `coco.py`):
  images:      [{id, file_name, height, width, ...}]
  annotations: [{id, image_id, category_id, iscrowd, area, bbox [x, y, w, h],
                 segmentation: polygons [[x0, y0, x1, y1, ...], ...]
                               | RLE {size: [h, w], counts: [int, ...] (uncompressed,
                                      the crowd regions) | str (compressed)}}]
  categories:  [{id, name, supercategory}]
panoptic_{split}2017.json (cocodataset/panopticapi):
  images as above; annotations: [{image_id, file_name (the PNG),
  segments_info: [{id, category_id, iscrowd, bbox, area}]}];
  categories: [{id, name, supercategory, isthing, color}].
Every segmentation becomes a compressed RLE of its image's size, as
pycocotools' `annToRLE` does (polygon parts merged).
"""
import dataclasses
import json
import os
from typing import Any, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from video_knet_jax.datasets.coco import errors


@dataclasses.dataclass(frozen=True)
class Image:
  image_id: int
  file_name: str
  height: int
  width: int


@dataclasses.dataclass(frozen=True)
class Instance:
  annotation_id: int
  category_id: int
  is_crowd: bool
  area: float
  bbox: tuple[float, float, float, float]
  rle: bytes                       # compressed RLE counts at the image's size.


def load_json(path) -> dict:
  path = os.fspath(path)
  try:
    with open(path) as f:
      data = json.load(f)
  except FileNotFoundError as e:
    raise errors.BadJsonError(f"Missing COCO annotation file {path}.") from e
  except (OSError, ValueError) as e:
    raise errors.BadJsonError(f"Cannot read COCO annotation file {path}: {e}") from e
  if not isinstance(data, dict):
    raise errors.BadJsonError(f"{path}: expected a JSON object, got {type(data).__name__}.")
  return data


def field(data: dict, name: str, path, kind=list) -> Any:
  if name not in data or not isinstance(data[name], kind):
    raise errors.BadJsonError(f"{path} has no {kind.__name__} {name!r}.")
  return data[name]


def check_categories(path, categories: Sequence[dict], expected: Sequence[tuple],
                     with_isthing: bool) -> None:
  """The JSON's categories must be the facts' (id, name[, isthing]) table."""
  try:
    found = sorted((int(c["id"]), c["name"]) + ((int(c["isthing"]),) if with_isthing else ())
                   for c in categories)
  except (KeyError, TypeError, ValueError) as e:
    raise errors.BadJsonError(f"{path}: categories need id, name"
                              f"{', isthing' if with_isthing else ''}: {e!r}") from e
  want = sorted((c[0], c[1]) + ((c[3],) if with_isthing else ()) for c in expected)
  if found != want:
    diff = sorted(set(found) ^ set(want))[:4]
    raise errors.UnknownCategoryError(
        f"{path} does not list the {len(want)} COCO 2017 categories; first "
        f"differences (id, name{', isthing' if with_isthing else ''}): {diff}.")


def load_images(path, data: dict) -> dict[int, Image]:
  """image_id -> Image, checking ids are unique."""
  images = {}
  for entry in field(data, "images", path):
    try:
      image = Image(int(entry["id"]), str(entry["file_name"]), int(entry["height"]),
                    int(entry["width"]))
    except (KeyError, TypeError, ValueError) as e:
      raise errors.BadJsonError(f"{path}: an image entry needs id, file_name, height, "
                                f"width: {entry!r:.200}") from e
    if image.image_id in images:
      raise errors.IdCollisionError(f"{path}: image id {image.image_id} is listed twice.")
    images[image.image_id] = image
  return images


def load_instances(path, data: dict, category_ids: Sequence[int]
                   ) -> tuple[list[Image], dict[int, list[Instance]]]:
  """Images sorted by id and their instances (annotation order), all checked.

  `data`: the parsed JSON at `path` (named in errors)."""
  images = load_images(path, data)
  known = set(category_ids)
  per_image: dict[int, list[Instance]] = {k: [] for k in images}
  seen = set()
  for a in field(data, "annotations", path):
    where = f"{path}: annotation {a.get('id')} (image {a.get('image_id')})"
    try:
      annotation_id, image_id = int(a["id"]), int(a["image_id"])
      category, crowd = int(a["category_id"]), bool(a.get("iscrowd", 0))
      area, bbox = float(a["area"]), tuple(float(v) for v in a["bbox"])
      segmentation = a["segmentation"]
    except (KeyError, TypeError, ValueError) as e:
      raise errors.BadJsonError(f"{where} needs id, image_id, category_id, area, bbox and "
                                f"segmentation: {e!r}") from e
    if annotation_id in seen:
      raise errors.IdCollisionError(f"{where}: annotation id {annotation_id} is used twice.")
    seen.add(annotation_id)
    image = images.get(image_id)
    if image is None:
      raise errors.UnknownImageError(f"{where} names an image that is not in 'images'.")
    if category not in known:
      raise errors.UnknownCategoryError(f"{where} has category_id {category}, not one of the "
                                        f"{len(known)} COCO categories.")
    if len(bbox) != 4:
      raise errors.BadJsonError(f"{where}: bbox {bbox} is not [x, y, w, h].")
    rle = to_rle(segmentation, image.height, image.width, where)
    per_image[image_id].append(Instance(annotation_id, category, crowd, area, bbox, rle))
  return [images[k] for k in sorted(images)], per_image


def to_rle(segmentation, height: int, width: int, where: str) -> bytes:
  """Compressed RLE counts of a polygon list or an (un)compressed RLE.

  Polygon parts with fewer than 3 points enclose nothing and are dropped
  (pycocotools would read a 4-number part as a box); an annotation whose
  parts are all such gives an empty mask.
  """
  try:
    if isinstance(segmentation, dict):
      size = [int(s) for s in segmentation["size"]]
      if size != [height, width]:
        raise errors.BadSegmentationError(
            f"{where}: RLE of size {size}, but the image is {[height, width]} (height, width).")
      counts = segmentation["counts"]
      if isinstance(counts, list):
        return mask_utils.frPyObjects(segmentation, height, width)["counts"]
      if isinstance(counts, str):
        counts = counts.encode("ascii")
      rle = {"size": size, "counts": counts}
      mask_utils.area(rle)   # validates the counts string.
      return rle["counts"]
    if isinstance(segmentation, list):
      parts = [p for p in segmentation if isinstance(p, list)]
      if len(parts) != len(segmentation) or any(len(p) % 2 for p in parts):
        raise errors.BadSegmentationError(
            f"{where}: a polygon is a list of lists of x, y pairs; got part lengths "
            f"{[len(p) if isinstance(p, list) else type(p).__name__ for p in segmentation]}.")
      parts = [[float(v) for v in p] for p in parts if len(p) >= 6]
      if not parts:
        return mask_utils.encode(np.zeros((height, width), np.uint8, order="F"))["counts"]
      return mask_utils.merge(mask_utils.frPyObjects(parts, height, width))["counts"]
  except errors.BadSegmentationError:
    raise
  except Exception as e:   # pycocotools raises bare Exceptions / TypeErrors.
    raise errors.BadSegmentationError(f"{where}: cannot decode the segmentation: {e}") from e
  raise errors.BadSegmentationError(
      f"{where}: segmentation is a {type(segmentation).__name__}; expected a polygon list "
      "or an RLE dict.")


def decode_masks(rles: Sequence[bytes], height: int, width: int) -> np.ndarray:
  """[N] compressed RLE counts (as stored) -> [N, height, width] uint8 0/1 masks."""
  if not len(rles):
    return np.zeros((0, height, width), np.uint8)
  objs = [{"size": [height, width], "counts": bytes(r)} for r in rles]
  return np.ascontiguousarray(mask_utils.decode(objs).transpose(2, 0, 1)).astype(np.uint8)
