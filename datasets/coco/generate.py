"""Writes a small COCO 2017 tree in exactly the official layout, for tests and :debug.

  <root>/{train,val}2017/<image id %012d>.jpg
  <root>/annotations/instances_{train,val}2017.json
  <root>/annotations/panoptic_{train,val}2017.json
  <root>/annotations/panoptic_{train,val}2017/<image id %012d>.png

Each image has two stuff regions (sky above, grass or road below), a void
band along the top (unlabelled in the panoptic PNG, as COCO's void pixels)
and up to three things in separate slots, coloured by class so the set is
learnable. The instance JSON uses every encoding the real one does: polygons
(one thing of two parts), uncompressed RLE for the crowd region of the
second train image, and a compressed RLE (ellipses; COCO itself never
writes one, the format allows it). The third train image is a grayscale
JPEG and the last train image has no thing (no instance annotation). The
panoptic PNG paints the same pixels: ids R + 256 G + 65536 B, random and
unique, with segments_info {id, category_id, iscrowd, bbox, area}.
"""
import dataclasses
import json
import os

import numpy as np
from PIL import Image as PILImage
from pycocotools import mask as mask_utils

from video_knet_jax.datasets import coco_panoptic_video
from video_knet_jax.datasets.coco import facts as coco_facts

SKY, GRASS, ROAD = 187, 193, 149                    # stuff category ids.
THINGS = (1, 3, 18, 44, 62)                         # person, car, dog, bottle, chair.
VOID_ROWS = 2                                       # unlabelled band at the top.


@dataclasses.dataclass(frozen=True)
class CocoSpec:
  """Size of a generated set (instance builder's facts)."""
  seed: int = 0
  num_train: int = 4
  num_val: int = 2
  height: int = 64
  width: int = 96

  def counts(self) -> dict[str, int]:
    return {"train": self.num_train, "val": self.num_val}

  def facts(self):
    return dataclasses.replace(coco_facts.COCO_INSTANCES, name="generated_coco",
                               split_videos=self.counts(), split_frames=self.counts())

  def config_name(self) -> str:
    return (f"generated_seed{self.seed}_{self.num_train}x{self.num_val}_"
            f"{self.height}x{self.width}")


@dataclasses.dataclass(frozen=True)
class CocoPanopticSpec(CocoSpec):
  """The same tree, read by the panoptic builder."""

  def facts(self):
    return dataclasses.replace(coco_facts.COCO_PANOPTIC, name="generated_coco_panoptic",
                               split_videos=self.counts(), split_frames=self.counts())


@dataclasses.dataclass
class Thing:
  category_id: int
  is_crowd: bool
  mask: np.ndarray            # [H, W] uint8, exactly the pixels the JSON encodes.
  segmentation: object        # the JSON entry.


def image_id(split: str, index: int) -> int:
  return (1000 + 7 * index) if split == "train" else (900000 + index)


def _ellipse(h, w, cy, cx, ry, rx):
  y, x = np.mgrid[:h, :w]
  return (((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1).astype(np.uint8)


def _polygon_mask(parts, h, w):
  return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(parts, h, w)))


def uncompressed_counts(mask: np.ndarray) -> list[int]:
  """COCO uncompressed RLE: run lengths in column-major order, 0s first."""
  flat = mask.T.reshape(-1)
  change = np.flatnonzero(np.diff(flat)) + 1
  bounds = np.concatenate([[0], change, [flat.size]])
  counts = np.diff(bounds).tolist()
  return ([0] + counts) if flat[0] else counts


def render(spec: CocoSpec, split: str, index: int):
  """(image [H, W, 3] uint8 (2-D if grayscale), stuff [H, W] category ids (0 = void), things)."""
  rng = np.random.default_rng([spec.seed, 0 if split == "train" else 1, index])
  h, w = spec.height, spec.width
  stuff = np.full((h, w), SKY, np.int64)
  stuff[h // 2:] = GRASS if index % 2 == 0 else ROAD
  stuff[:VOID_ROWS] = 0
  image = rng.normal(100, 10, (h, w, 3))
  for category in (SKY, GRASS, ROAD):
    image[stuff == category] += (np.asarray(_color(category)) - 100) * 0.5
  things = []
  num_things = 0 if (split == "train" and index == spec.num_train - 1) else 3
  slot = w // 3
  for k in range(num_things):
    category = THINGS[int(rng.integers(len(THINGS)))]
    cx = slot * k + slot / 2 + rng.uniform(-2, 2)
    cy = rng.uniform(0.45, 0.6) * h
    ry, rx = rng.uniform(0.18, 0.28) * h, rng.uniform(0.25, 0.38) * slot
    crowd = split == "train" and index == 1 and k == 2
    if crowd:                 # a crowd region: uncompressed RLE.
      mask = _ellipse(h, w, cy, cx, ry, rx)
      seg = {"size": [h, w], "counts": uncompressed_counts(mask)}
    elif k == 0:              # two polygon parts (a thing seen in two pieces).
      parts = [[cx - rx, cy, cx - 2, cy - ry, cx - 2, cy + ry],
               [cx + 2, cy - ry, cx + rx, cy, cx + 2, cy + ry]]
      parts = [[float(round(v, 2)) for v in p] for p in parts]
      mask, seg = _polygon_mask(parts, h, w), parts
    elif k == 1:              # compressed RLE.
      mask = _ellipse(h, w, cy, cx, ry, rx)
      seg = {"size": [h, w],
             "counts": mask_utils.encode(np.asfortranarray(mask))["counts"].decode("ascii")}
    else:                     # one polygon.
      parts = [[float(round(v, 2)) for v in (cx - rx, cy + ry, cx + rx, cy + ry, cx, cy - ry)]]
      mask, seg = _polygon_mask(parts, h, w), parts
    mask = mask.astype(np.uint8)
    image[mask.astype(bool)] = np.asarray(_color(category)) + rng.normal(0, 6, (mask.sum(), 3))
    things.append(Thing(category, crowd, mask, seg))
  image = image.clip(0, 255).astype(np.uint8)
  if split == "train" and index == 2:
    image = image.mean(-1).astype(np.uint8)          # a grayscale JPEG, as some of COCO's.
  return image, stuff, things


def _color(category_id: int):
  return {c[0]: c[4] for c in coco_facts.CATEGORIES}[category_id]


def _image_entry(spec, split, index):
  iid = image_id(split, index)
  return {"license": 1, "file_name": f"{iid:012d}.jpg",
          "coco_url": f"http://images.cocodataset.org/{split}2017/{iid:012d}.jpg",
          "height": spec.height, "width": spec.width,
          "date_captured": "2013-11-14 11:18:45",
          "flickr_url": f"http://farm1.staticflickr.com/{iid}.jpg", "id": iid}


def _bbox(mask: np.ndarray) -> list[float]:
  return [float(v) for v in mask_utils.toBbox(mask_utils.encode(np.asfortranarray(mask)))]


def write_tree(root, spec: CocoSpec) -> str:
  """Writes images, both JSONs and the panoptic PNGs of both splits under `root`."""
  root = os.fspath(root)
  info = {"description": f"generated {spec}", "version": "1.0", "year": 2017}
  licenses = [{"url": "http://creativecommons.org/licenses/by/2.0/", "id": 1,
               "name": "Attribution License"}]
  instance_categories = [{"supercategory": c[2], "id": c[0], "name": c[1]}
                         for c in coco_facts.THING_CATEGORIES]
  panoptic_categories = [{"supercategory": c[2], "isthing": c[3], "id": c[0], "name": c[1],
                          "color": list(c[4])} for c in coco_facts.CATEGORIES]
  os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
  used_ids: set[int] = {0}
  rng = np.random.default_rng([spec.seed, 7])
  for split, count in spec.counts().items():
    image_dir = os.path.join(root, coco_facts.IMAGE_DIR.format(split=split))
    png_dir = os.path.join(root, coco_facts.PANOPTIC_PNG_DIR.format(split=split))
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(png_dir, exist_ok=True)
    images, instance_anns, panoptic_anns = [], [], []
    for index in range(count):
      entry = _image_entry(spec, split, index)
      images.append(entry)
      image, stuff, things = render(spec, split, index)
      PILImage.fromarray(image).save(os.path.join(image_dir, entry["file_name"]),
                                     format="JPEG", quality=95)
      values = stuff.copy()                          # category ids, things as 1000 + k.
      for k, thing in enumerate(things):
        values[thing.mask.astype(bool)] = 1000 + k
        instance_anns.append({
            "segmentation": thing.segmentation,
            "area": float(mask_utils.area(mask_utils.encode(np.asfortranarray(thing.mask)))),
            "iscrowd": int(thing.is_crowd), "image_id": entry["id"],
            "bbox": _bbox(thing.mask), "category_id": thing.category_id,
            "id": 10 * entry["id"] + k + 1})
      category_of = lambda v, things=things: (None if v == 0 else
                                              things[v - 1000].category_id if v >= 1000 else v)
      crowd_of = lambda v, things=things: v >= 1000 and things[v - 1000].is_crowd
      ids, segments = coco_panoptic_video.encode_segments(values, category_of, crowd_of, {},
                                                          used_ids, rng)
      for seg in segments:
        seg["bbox"] = [int(v) for v in _bbox((ids == seg["id"]).astype(np.uint8))]
      name = f"{entry['id']:012d}.png"
      PILImage.fromarray(coco_panoptic_video.id_to_rgb(ids)).save(os.path.join(png_dir, name))
      panoptic_anns.append({"segments_info": segments, "file_name": name,
                            "image_id": entry["id"]})
    with open(os.path.join(root, coco_facts.INSTANCES_JSON.format(split=split)), "w") as f:
      json.dump({"info": info, "licenses": licenses, "images": images,
                 "annotations": instance_anns, "categories": instance_categories}, f)
    with open(os.path.join(root, coco_facts.PANOPTIC_JSON.format(split=split)), "w") as f:
      json.dump({"info": info, "licenses": licenses, "images": images,
                 "annotations": panoptic_anns, "categories": panoptic_categories}, f)
  return root
