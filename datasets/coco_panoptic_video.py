"""COCO-panoptic *video* labels: RGB id PNGs plus a JSON of segments.

Cityscapes-VPS (`panoptic_gt_{split}_city_vps.json` + `panoptic_video/`) and
VIPSeg (`panoptic_gt_VIPSeg_{split}.json` + `panomasksRGB/`) both store a
frame's label as an RGB PNG whose pixel id is R + 256 G + 65536 B (0 = void)
and a JSON entry listing the frame's segments
`{"id", "category_id", "iscrowd", "area"}`. A segment id is kept over the
frames of a video, so equal ids are one track. This module turns one frame
into (semantic, track) maps, numbering a video's tracks 1, 2, ... in order of
first appearance, and checks the pair PNG <-> JSON, naming the file.
"""
import dataclasses
import json
from typing import Any, Callable, Iterable, Mapping

import numpy as np
from etils import epath

from video_knet_jax.datasets import errors
from video_knet_jax.datasets import frame_examples


def load_json(path) -> Any:
  try:
    return json.loads(path.read_text())
  except FileNotFoundError as e:
    raise errors.BadJsonError(f"Missing JSON file {path}.") from e
  except (OSError, ValueError) as e:
    raise errors.BadJsonError(f"Cannot read JSON file {path}: {e}") from e


def rgb_to_id(rgb: np.ndarray) -> np.ndarray:
  """[H, W, 3] uint8 -> [H, W] int64 segment ids (COCO panoptic)."""
  rgb = np.asarray(rgb).astype(np.int64)
  return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def id_to_rgb(ids: np.ndarray) -> np.ndarray:
  """[H, W] segment ids < 2**24 -> [H, W, 3] uint8 (inverse of rgb_to_id)."""
  ids = np.asarray(ids, np.int64)
  return np.stack([ids % 256, ids // 256 % 256, ids // 65536],
                  axis=-1).astype(np.uint8)


def categories_json(facts) -> list[dict]:
  """The JSON `categories` of a facts record: {id, name, isthing, color}."""
  return [{"id": c, "name": name, "isthing": int(c in facts.thing_ids),
           "color": list(facts.colors[c])}
          for c, name in enumerate(facts.class_names)]


def encode_segments(values: np.ndarray, category_of: Callable[[int], int | None],
                    is_crowd: Callable[[int], bool], segment_of: dict,
                    used_ids: set, rng: np.random.Generator):
  """[H, W] segment values -> ([H, W] ids, the frame's JSON segments_info).

  As the data sets' `create_panoptic_video_labels.py`: each value (a class or
  class-and-instance code) gets a random id in 1..2**24-1 that is kept over
  the video (`segment_of`: value -> id, one dict per video) and unique in the
  data set (`used_ids`); values whose `category_of` is None stay 0 (void).
  """
  ids = np.zeros(values.shape, np.int64)
  segments = []
  for value in np.unique(values).tolist():
    category = category_of(value)
    if category is None:
      continue
    if value not in segment_of:
      new = 0
      while new in used_ids:
        new = int(rng.integers(1, 2**24))
      used_ids.add(new)
      segment_of[value] = new
    mask = values == value
    ids[mask] = segment_of[value]
    segments.append({"id": segment_of[value], "category_id": int(category),
                     "iscrowd": int(is_crowd(value)), "area": int(mask.sum())})
  return ids, segments


class VideoTracks:
  """Numbers a video's thing segments 1, 2, ... and checks their classes.

  `class_of` maps a category_id to (semantic id, is_thing).
  """

  def __init__(self, class_of: Mapping[int, tuple[int, bool]],
               void_label: int):
    self._class_of = class_of
    self._void = void_label
    self._track = {}      # segment id -> (track id, category id).

  def decode(self, label_path, id_map: np.ndarray,
             segments: list[Mapping[str, Any]]) -> tuple[np.ndarray,
                                                         np.ndarray]:
    """[H, W] segment ids + the JSON segments -> (semantic, track) maps."""
    semantic = np.full(id_map.shape, self._void, np.int64)
    track = np.zeros(id_map.shape, np.int64)
    ids, areas = np.unique(id_map, return_counts=True)
    area_of = dict(zip(ids.tolist(), areas.tolist()))
    area_of.pop(0, None)   # 0 = void.
    listed = set()
    for seg in segments:
      try:
        seg_id, category = int(seg["id"]), int(seg["category_id"])
      except (KeyError, TypeError, ValueError) as e:
        raise errors.BadJsonError(
            f"The JSON entry of {label_path} has a segment without an integer "
            f"id / category_id: {seg!r}.") from e
      if seg_id in listed:
        raise errors.IdCollisionError(
            f"The JSON entry of {label_path} lists segment id {seg_id} twice.")
      listed.add(seg_id)
      if category not in self._class_of:
        raise errors.UnknownCategoryError(
            f"Segment {seg_id} of {label_path} has category_id {category}, "
            f"which is not one of the {len(self._class_of)} categories.")
      if seg_id not in area_of:
        raise errors.MissingLabelError(
            f"Segment {seg_id} of {label_path}'s JSON entry has no pixels in "
            "the PNG.")
      if "area" in seg and int(seg["area"]) != area_of[seg_id]:
        raise errors.BadLabelValueError(
            f"Segment {seg_id} of {label_path}: JSON area {seg['area']} but "
            f"{area_of[seg_id]} pixels in the PNG.")
      sem, is_thing = self._class_of[category]
      mask = id_map == seg_id
      semantic[mask] = sem
      if is_thing and not seg.get("iscrowd", 0):
        track[mask] = self._track_id(label_path, seg_id, category)
    unlisted = sorted(set(area_of) - listed)
    if unlisted:
      raise errors.BadLabelValueError(
          f"{label_path} has segment ids {unlisted[:10]} that its JSON entry "
          "does not list.")
    return semantic, track

  def _track_id(self, label_path, seg_id: int, category: int) -> int:
    if seg_id not in self._track:
      self._track[seg_id] = (len(self._track) + 1, category)
    track, first_category = self._track[seg_id]
    if first_category != category:
      raise errors.IdCollisionError(
          f"{label_path}: segment id {seg_id} is category {category} here but "
          f"{first_category} earlier in the same video; ids must name one "
          "track.")
    return track


@dataclasses.dataclass(frozen=True)
class Frame:
  """One frame of a COCO-panoptic video tree and its JSON entry."""
  sequence_id: int
  frame_index: int
  image_path: epath.Path
  label_path: epath.Path | None   # None: an unlabelled frame.
  segments: tuple | None          # the JSON entry's segments_info.


def examples(facts: frame_examples.PanopticFacts, root: epath.Path,
             frames: Iterable[Frame], image_format: str):
  """(key, example) of each frame, sorted by (sequence, frame), in the
  `frame_examples` layout; tracks are numbered per video (VideoTracks)."""
  class_of = {c: (c, c in facts.thing_ids) for c in range(facts.num_classes)}
  tracks, sequence = None, None
  for frame in frames:
    if frame.sequence_id != sequence:
      sequence = frame.sequence_id
      tracks = VideoTracks(class_of, facts.void_label)
    image_bytes, _, size = frame_examples.read_image(
        frame.image_path, (image_format,), ("RGB",))
    frame_examples.check_height(facts, frame.image_path, size)
    key = frame_examples.example_key(frame.sequence_id, frame.frame_index)
    common = dict(sequence_id=frame.sequence_id, frame_index=frame.frame_index,
                  file_name=str(frame.image_path.relative_to(root)))
    if frame.label_path is None:
      yield key, frame_examples.unlabelled_example(facts, image_bytes, size,
                                                   **common)
      continue
    _, rgb, label_size = frame_examples.read_image(
        frame.label_path, ("PNG",), ("RGB",))
    frame_examples.check_same_size(frame.label_path, label_size,
                                   frame.image_path, size)
    semantic, track = tracks.decode(frame.label_path, rgb_to_id(rgb),
                                    list(frame.segments))
    yield key, frame_examples.labelled_example(
        facts, frame.label_path, image_bytes, semantic, track, **common)
