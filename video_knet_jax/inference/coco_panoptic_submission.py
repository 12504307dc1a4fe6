"""COCO-panoptic video predictions: the Cityscapes-VPS and VIPSeg submission format.

Both benchmarks score a folder `pan_pred/` of RGB PNGs (segment id =
R + 256 G + 65536 B, 0 = void) plus `pred.json` listing each frame's segments
`{id, category_id}`; a segment id names one track over a video.
  cityscapes_vps: pan_pred/<image_id>.png and pred.json
                  {"annotations": [{image_id, file_name, segments_info}]}
                  (mcahny/vps tools/eval_vpq.py), the labelled frames only.
  vipseg:         pan_pred/<video>/<frame>.png and pred.json
                  {"annotations": [{video_id, annotations: [...]}]}
                  (VIPSeg-Dataset eval_vpq_vspw.py), every frame.
Segment ids are 1 + semantic + 256 * track id (track 0 for stuff; 0 stays
void), so one class and track keep one id over a video and ids stay below
2**24.
"""
import json
import os

import numpy as np
from PIL import Image

FORMATS = ("cityscapes_vps", "vipseg")


def segment_ids(semantic: np.ndarray, ids: np.ndarray,
                void_label: int) -> np.ndarray:
  """[H, W] semantic + [H, W] track ids -> [H, W] COCO segment ids (0 void)."""
  semantic = np.asarray(semantic, np.int64)
  ids = np.asarray(ids, np.int64)
  if ids.min(initial=0) < 0 or ids.max(initial=0) >= 65536:
    raise ValueError("COCO panoptic PNG: track ids must be in [0, 65535].")
  if semantic.min(initial=0) < 0 or semantic.max(initial=0) > 255:
    raise ValueError("COCO panoptic PNG: semantic ids must be in [0, 255].")
  if void_label < 255 and semantic.max(initial=0) == 255:
    raise ValueError("COCO panoptic PNG: class 255 only as the void label.")
  return np.where(semantic == void_label, 0, 1 + semantic + 256 * ids)


class SubmissionWriter:
  """Writes frames one at a time; `close()` writes pred.json."""

  def __init__(self, out_dir: str, fmt: str, void_label: int):
    if fmt not in FORMATS:
      raise ValueError(f"submission format {fmt!r}; expected one of {FORMATS}.")
    self.out_dir, self.fmt, self.void_label = out_dir, fmt, int(void_label)
    self._frames = []      # cityscapes_vps
    self._videos = {}      # vipseg: video -> list of frame entries.

  def add(self, file_name: str, sequence_id: int, semantic: np.ndarray,
          ids: np.ndarray) -> str:
    """Writes one frame (file_name: the stored image path); returns its PNG."""
    seg = segment_ids(semantic, ids, self.void_label)
    values, areas = np.unique(seg, return_counts=True)
    segments = [{"id": int(v), "category_id": int((v - 1) % 256), "iscrowd": 0,
                 "area": int(a)} for v, a in zip(values, areas) if v]
    base = os.path.basename(file_name)
    stem = os.path.splitext(base)[0]
    if self.fmt == "cityscapes_vps":
      image_id = stem.rsplit("_", 1)[0]   # drop _newImg8bit / _leftImg8bit.
      rel = f"{image_id}.png"
      self._frames.append({"image_id": image_id, "file_name": rel,
                           "segments_info": segments})
    else:
      video = os.path.basename(os.path.dirname(file_name)) or str(sequence_id)
      rel = os.path.join(video, f"{stem}.png")
      self._videos.setdefault(video, []).append(
          {"image_id": stem, "file_name": f"{stem}.png",
           "segments_info": segments})
    path = os.path.join(self.out_dir, "pan_pred", rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rgb = np.stack([seg % 256, seg // 256 % 256, seg // 65536], axis=-1)
    Image.fromarray(rgb.astype(np.uint8)).save(path)
    return path

  def close(self) -> str:
    if self.fmt == "cityscapes_vps":
      data = {"annotations": self._frames}
    else:
      data = {"annotations": [{"video_id": v, "annotations": a}
                              for v, a in self._videos.items()]}
    path = os.path.join(self.out_dir, "pred.json")
    os.makedirs(self.out_dir, exist_ok=True)
    with open(path, "w") as f:
      json.dump(data, f)
    return path
