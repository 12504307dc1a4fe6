"""Per-track records of a predicted video, kept as `tracks.json`.

One entry per track id: its class, first and last frame, and per frame the
class score of its segment, its box [x0, y0, x1, y1] (inclusive pixels) and
its area in pixels. The file is replaced atomically (write, fsync, rename),
so a reader, or a run killed mid-video, always leaves a complete JSON file;
`complete` says whether the whole video was processed.
"""
import json
import os
from typing import Any, Dict, Mapping, Sequence

import numpy as np


def atomic_write_json(path: str, value: Any) -> None:
  """Writes `value` to `path` so that `path` is never half-written."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp{os.getpid()}")
  with open(tmp, "w") as f:
    json.dump(value, f, indent=1)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def track_boxes(ids: np.ndarray) -> Dict[int, tuple]:
  """[H, W] ids (0 = none) -> {id: ((x0, y0, x1, y1), area)} over the ids present."""
  out = {}
  for track_id in np.unique(ids):
    if track_id == 0:
      continue
    ys, xs = np.nonzero(ids == track_id)
    out[int(track_id)] = ((int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())),
                          int(ys.size))
  return out


class TrackLog:
  """Accumulates tracks frame by frame and writes them to `path`."""

  def __init__(self, path: str, class_names: Sequence[str], meta: Mapping[str, Any]):
    self.path = path
    self.class_names = tuple(class_names)
    self.meta = dict(meta)
    self.num_frames = 0
    self._tracks: Dict[int, dict] = {}

  def add(self, frame: int, semantic: np.ndarray, ids: np.ndarray,
          scores: Mapping[int, float]) -> Dict[int, tuple]:
    """Records one frame; returns its `track_boxes`."""
    boxes = track_boxes(ids)
    for track_id, (box, area) in boxes.items():
      track = self._tracks.get(track_id)
      if track is None:
        ys, xs = np.nonzero(ids == track_id)
        class_id = int(semantic[ys[0], xs[0]])
        name = (self.class_names[class_id] if 0 <= class_id < len(self.class_names)
                else str(class_id))
        track = self._tracks[track_id] = {
            "id": track_id, "class_id": class_id, "class": name,
            "first_frame": frame, "last_frame": frame, "frames": []}
      track["last_frame"] = frame
      track["frames"].append({"frame": frame, "score": round(float(scores.get(track_id, 0.0)), 5),
                              "box": list(box), "area": area})
    self.num_frames += 1
    return boxes

  def class_name(self, track_id: int) -> str:
    return self._tracks[track_id]["class"]

  def write(self, complete: bool) -> None:
    value = dict(self.meta)
    value.update(num_frames=self.num_frames, complete=bool(complete),
                 tracks=[self._tracks[k] for k in sorted(self._tracks)])
    atomic_write_json(self.path, value)
