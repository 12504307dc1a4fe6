"""Writes a small data set in exactly the YouTube-VIS 2019 format.

  <root>/train/JPEGImages/<video name>/<frame %05d>.jpg
  <root>/annotations/youtube_vis_2019_train.json

Each video shows a few moving shapes on a noisy background; an instance's
colour depends on its class, so the set is learnable. The JSON uses every
segmentation encoding the real one does: compressed RLE (ellipses),
uncompressed RLE (rectangles), polygons (triangles), null on frames where the
instance is absent (each video's last instance enters on frame 1), and one
crowd instance in video 1. Frame names step by 5, as the annotated frames of
the real set do.
"""
import dataclasses
import json
import os
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from video_knet_jax.datasets.youtube_vis import facts as facts_lib


@dataclasses.dataclass(frozen=True)
class YouTubeVisSpec:
  """Size of a generated set. Classes used: the first `num_classes_used`."""
  seed: int = 0
  num_videos: int = 6
  frames_per_video: int = 6
  height: int = 64
  width: int = 96
  instances_per_video: int = 3
  num_classes_used: int = 4
  num_valid_videos: int = 0   # the server's unlabelled 'valid' split.

  @classmethod
  def from_dict(cls, d) -> "YouTubeVisSpec":
    return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls)
                  if f.name in d})

  def config_name(self) -> str:
    return "generated_" + "_".join(
        str(getattr(self, f.name)) for f in dataclasses.fields(self)
        if f.name != "num_valid_videos" or self.num_valid_videos)


@dataclasses.dataclass
class GeneratedInstance:
  instance_id: int
  label: int                    # class index (category_id - 1).
  is_crowd: bool
  masks: list                   # per frame [H, W] uint8, or None (absent).


def _class_color(label: int) -> np.ndarray:
  return np.asarray(facts_lib.YOUTUBE_VIS_2019.colors[label], np.float32)


def _ellipse(h, w, cy, cx, ry, rx) -> np.ndarray:
  y, x = np.mgrid[:h, :w]
  return (((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1).astype(np.uint8)


def _rectangle(h, w, cy, cx, ry, rx) -> np.ndarray:
  m = np.zeros((h, w), np.uint8)
  m[max(0, int(cy - ry)):max(0, int(cy + ry)),
    max(0, int(cx - rx)):max(0, int(cx + rx))] = 1
  return m


def _triangle(h, w, cy, cx, ry, rx) -> list[list[float]]:
  return [[float(cx - rx), float(cy + ry), float(cx + rx), float(cy + ry),
           float(cx), float(cy - ry)]]


def render_video(spec: YouTubeVisSpec, video_index: int):
  """(images [T, H, W, 3] uint8, instances, segmentation JSON entries)."""
  rng = np.random.default_rng([spec.seed, video_index])
  h, w, t_len = spec.height, spec.width, spec.frames_per_video
  images = (rng.normal(90, 12, (t_len, h, w, 3))).clip(0, 255)
  instances, json_segs = [], []
  for k in range(spec.instances_per_video):
    label = int(rng.integers(spec.num_classes_used))
    shape = k % 3                              # ellipse, rectangle, triangle.
    ry, rx = rng.uniform(0.15, 0.25) * h, rng.uniform(0.1, 0.18) * w
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.2, 0.8) * w
    vy, vx = rng.uniform(-1.5, 1.5), rng.uniform(-2.5, 2.5)
    first = 1 if k == spec.instances_per_video - 1 else 0
    crowd = video_index == 1 and k == 0
    masks, segs = [], []
    for t in range(t_len):
      if t < first:
        masks.append(None)
        segs.append(None)
        continue
      py, px = cy + vy * t, cx + vx * t
      if shape == 0:
        m = _ellipse(h, w, py, px, ry, rx)
        rle = mask_utils.encode(np.asfortranarray(m))
        seg = {"size": [h, w], "counts": rle["counts"].decode("ascii")}
      elif shape == 1:
        m = _rectangle(h, w, py, px, ry, rx)
        seg = {"size": [h, w], "counts": _uncompressed_counts(m)}
      else:
        seg = _triangle(h, w, py, px, ry, rx)
        m = mask_utils.decode(mask_utils.merge(
            mask_utils.frPyObjects(seg, h, w))).astype(np.uint8)
      masks.append(m)
      segs.append(seg)
      images[t][m.astype(bool)] = _class_color(label) + rng.normal(
          0, 6, (int(m.sum()), 3))
    instances.append(GeneratedInstance(
        instance_id=video_index * 100 + k + 1, label=label, is_crowd=crowd,
        masks=masks))
    json_segs.append(segs)
  return images.clip(0, 255).astype(np.uint8), instances, json_segs


def _uncompressed_counts(mask: np.ndarray) -> list[int]:
  """COCO uncompressed RLE: run lengths in column-major order, 0s first."""
  flat = mask.T.reshape(-1)
  counts, value, run = [], 0, 0
  for v in flat:
    if v == value:
      run += 1
    else:
      counts.append(run)
      value, run = v, 1
  counts.append(run)
  return counts


def video_name(video_index: int) -> str:
  return f"{video_index * 7919 % 100000:05d}abc{video_index:03d}"


def annotations_json(spec: YouTubeVisSpec) -> dict[str, Any]:
  """The full annotation JSON of the generated train set."""
  videos, anns = [], []
  for v in range(spec.num_videos):
    _, instances, segs = render_video(spec, v)
    names = [f"{video_name(v)}/{5 * t:05d}.jpg"
             for t in range(spec.frames_per_video)]
    videos.append({"id": v + 1, "width": spec.width, "height": spec.height,
                   "length": len(names), "file_names": names})
    for inst, inst_segs in zip(instances, segs):
      areas = [None if m is None else int(m.sum()) for m in inst.masks]
      bboxes = [None if m is None else
                [float(x) for x in mask_utils.toBbox(
                    mask_utils.encode(np.asfortranarray(m)))]
                for m in inst.masks]
      anns.append({"id": inst.instance_id, "video_id": v + 1,
                   "category_id": inst.label + 1,
                   "iscrowd": int(inst.is_crowd), "segmentations": inst_segs,
                   "areas": areas, "bboxes": bboxes, "width": spec.width,
                   "height": spec.height, "length": len(names)})
  categories = [{"id": k + 1, "name": n, "supercategory": "object"}
                for k, n in enumerate(facts_lib.CLASS_NAMES_2019)]
  return {"info": {"description": f"generated {spec}"}, "licenses": [],
          "videos": videos, "annotations": anns, "categories": categories}


def write_tree(root, spec: YouTubeVisSpec) -> str:
  """Writes the JPEGs and the JSON under `root`; returns `root`."""
  root = os.fspath(root)
  data = annotations_json(spec)
  for v, video in enumerate(data["videos"]):
    images, _, _ = render_video(spec, v)
    for t, name in enumerate(video["file_names"]):
      path = os.path.join(root, "train", "JPEGImages", name)
      os.makedirs(os.path.dirname(path), exist_ok=True)
      Image.fromarray(images[t]).save(path, format="JPEG", quality=95)
  os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
  with open(os.path.join(root, "annotations",
                         "youtube_vis_2019_train.json"), "w") as f:
    json.dump(data, f)
  if spec.num_valid_videos:
    _write_valid(root, spec, data["categories"])
  return root


def _write_valid(root: str, spec: YouTubeVisSpec, categories) -> None:
  """valid/JPEGImages and the valid JSON as the server's split ships them:
  videos, no annotations (null)."""
  videos = []
  for v in range(spec.num_videos, spec.num_videos + spec.num_valid_videos):
    images, _, _ = render_video(spec, v)
    names = [f"{video_name(v)}/{5 * t:05d}.jpg"
             for t in range(spec.frames_per_video)]
    for t, name in enumerate(names):
      path = os.path.join(root, "valid", "JPEGImages", name)
      os.makedirs(os.path.dirname(path), exist_ok=True)
      Image.fromarray(images[t]).save(path, format="JPEG", quality=95)
    videos.append({"id": v + 1, "width": spec.width, "height": spec.height,
                   "length": len(names), "file_names": names})
  with open(os.path.join(root, "annotations",
                         "youtube_vis_2019_valid.json"), "w") as f:
    json.dump({"info": {"description": f"generated {spec}"}, "licenses": [],
               "videos": videos, "annotations": None,
               "categories": categories}, f)
