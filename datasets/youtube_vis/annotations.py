"""Reads a YouTube-VIS annotation JSON and decodes its per-frame segmentations.

JSON (youtubevos/cocoapi `ytvos.py`):
  videos:      [{id, width, height, length, file_names: [<video>/<frame>.jpg]}]
  annotations: [{id, video_id, category_id, iscrowd,
                 segmentations: [RLE | polygon | null per frame], ...}]
  categories:  [{id, name, supercategory}]
A segmentation is a compressed RLE ({"size": [h, w], "counts": str}), an
uncompressed RLE ({"size": [h, w], "counts": [int, ...]}), a polygon list
([[x0, y0, x1, y1, ...], ...]) or null (instance absent from that frame).
"""
import dataclasses
import json
import os
from typing import Any, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from video_knet_jax.datasets.youtube_vis import errors

# Where the JSON of a split may be, relative to the manual dir: the Video
# K-Net layout first, then the official download's.
JSON_CANDIDATES = ("annotations/youtube_vis_2019_{split}.json",
                   "{split}.json", "{split}/instances.json")


@dataclasses.dataclass(frozen=True)
class Video:
  video_id: int
  height: int
  width: int
  file_names: tuple[str, ...]     # relative to <split>/JPEGImages/.


@dataclasses.dataclass(frozen=True)
class Instance:
  instance_id: int                 # the annotation's id.
  video_id: int
  label: int                       # category_id - 1.
  is_crowd: bool
  segmentations: tuple[Any, ...]   # one JSON entry (or None) per frame.


def find_json(manual_dir, split: str) -> str:
  for pattern in JSON_CANDIDATES:
    path = os.path.join(manual_dir, pattern.format(split=split))
    if os.path.isfile(path):
      return path
  tried = [pattern.format(split=split) for pattern in JSON_CANDIDATES]
  raise errors.MissingAnnotationsError(
      f"No YouTube-VIS annotation JSON for split {split!r} under {manual_dir} "
      f"(tried {tried}).")


def load(json_path, num_categories: int
         ) -> tuple[list[Video], dict[int, list[Instance]]]:
  """Videos sorted by id and their instances (by video id), checked."""
  with open(json_path) as f:
    data = json.load(f)
  if data.get("annotations", 0) is None:
    data["annotations"] = []   # the server's splits: videos only (null).
  for field in ("videos", "annotations", "categories"):
    if field not in data:
      raise errors.MissingAnnotationsError(
          f"{json_path} has no {field!r} list.")
  known = {int(c["id"]) for c in data["categories"]}
  expected = set(range(1, num_categories + 1))
  if not known <= expected:
    raise errors.UnknownCategoryError(
        f"{json_path}: categories {sorted(known - expected)} are not among "
        f"the {num_categories} ids 1..{num_categories}.")
  videos = {}
  for v in data["videos"]:
    video = Video(int(v["id"]), int(v["height"]), int(v["width"]),
                  tuple(v["file_names"]))
    if "length" in v and int(v["length"]) != len(video.file_names):
      raise errors.MissingFramesError(
          f"{json_path}: video {video.video_id} has length {v['length']} but "
          f"{len(video.file_names)} file_names.")
    videos[video.video_id] = video
  instances: dict[int, list[Instance]] = {k: [] for k in videos}
  for a in data["annotations"]:
    where = f"{json_path}: annotation {a.get('id')} (video {a.get('video_id')})"
    video = videos.get(int(a["video_id"]))
    if video is None:
      raise errors.MissingFramesError(f"{where} names a video that is not in "
                                      "'videos'.")
    category = int(a["category_id"])
    if category not in expected:
      raise errors.UnknownCategoryError(
          f"{where} has category_id {category}; known ids are "
          f"1..{num_categories}.")
    segs = tuple(a["segmentations"])
    if len(segs) != len(video.file_names):
      raise errors.BadSegmentationError(
          f"{where} has {len(segs)} segmentations for a video of "
          f"{len(video.file_names)} frames.")
    instances[video.video_id].append(Instance(
        int(a["id"]), video.video_id, category - 1, bool(a.get("iscrowd", 0)),
        segs))
  return [videos[k] for k in sorted(videos)], instances


def decode(segmentation, height: int, width: int, where: str) -> np.ndarray:
  """[height, width] uint8 0/1 mask of one RLE or polygon entry."""
  try:
    if isinstance(segmentation, dict):
      size = [int(s) for s in segmentation["size"]]
      if size != [height, width]:
        raise errors.BadSegmentationError(
            f"{where}: RLE of size {size}, but the video is "
            f"{[height, width]} (height, width).")
      rle = segmentation
      if isinstance(segmentation["counts"], list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
      elif isinstance(rle["counts"], str):
        rle = {"size": size, "counts": rle["counts"].encode("ascii")}
      return mask_utils.decode(rle).astype(np.uint8)
    if isinstance(segmentation, list):
      polygons = [p for p in segmentation if len(p) >= 6]
      if not polygons or any(len(p) % 2 for p in polygons):
        raise errors.BadSegmentationError(
            f"{where}: polygon needs >= 3 (x, y) pairs per part, got lengths "
            f"{[len(p) for p in segmentation]}.")
      rles = mask_utils.frPyObjects(polygons, height, width)
      return mask_utils.decode(mask_utils.merge(rles)).astype(np.uint8)
  except errors.YouTubeVisFormatError:
    raise
  except Exception as e:   # pycocotools raises bare Exceptions / TypeErrors.
    raise errors.BadSegmentationError(f"{where}: cannot decode: {e}") from e
  raise errors.BadSegmentationError(
      f"{where}: segmentation is a {type(segmentation).__name__}; expected an "
      "RLE dict, a polygon list or null.")


def frame_instances(instances: Sequence[Instance], frame: int,
                    video: Video, json_path) -> dict[str, np.ndarray]:
  """The instances present on one frame, their masks [N, H, W] and fields."""
  masks, ids, labels, crowd = [], [], [], []
  for inst in instances:
    seg = inst.segmentations[frame]
    if seg is None:
      continue
    where = (f"{json_path}: annotation {inst.instance_id}, frame {frame} "
             f"({video.file_names[frame]})")
    masks.append(decode(seg, video.height, video.width, where))
    ids.append(inst.instance_id)
    labels.append(inst.label)
    crowd.append(inst.is_crowd)
  return {
      "masks": (np.stack(masks) if masks else
                np.zeros((0, video.height, video.width), np.uint8)),
      "instance_ids": np.asarray(ids, np.int32),
      "labels": np.asarray(labels, np.int32),
      "is_crowd": np.asarray(crowd, bool),
  }
