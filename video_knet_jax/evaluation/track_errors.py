r"""Where a KITTI-STEP-format prediction loses AQ: association or segmentation.

  python -m video_knet_jax.evaluation.track_errors \
      --groundtruth=DIR --predictions=DIR

Prints STQ/AQ as scored and with *oracle ids* (every predicted thing segment
takes the id of the same-class ground-truth instance it overlaps most, so only
segmentation errors remain; the gap is what association costs), and counts,
per ground-truth instance per frame, whether a predicted segment of its class
covers it (> `min_cover` of its pixels), keeps the previous frame's id, or
switches id, what class the missed ones were predicted as, how many are
covered by a segment that also covers another instance of the frame (one
kernel taking several objects), and misses by class and area. No library
gives this breakdown (the official STQ only reports the aggregate).
"""
from __future__ import annotations

import argparse
import bisect
import collections
import dataclasses
import json
import sys

import numpy as np

from video_knet_jax.evaluation import score_folders
from video_knet_jax.evaluation.segment_counts import count_pairs
from video_knet_jax.evaluation.stq import kitti_step_stq

_DIVISOR = score_folders.KITTI_DIVISOR
AREA_BINS = (100, 300, 1000, 3000)   # pixel-count bin edges for misses by size.
AREA_LABELS = ((f"<{AREA_BINS[0]}",)
               + tuple(f"{low}-{high}" for low, high in zip(AREA_BINS, AREA_BINS[1:]))
               + (f">={AREA_BINS[-1]}",))   # small to large.


def area_bin(area: int) -> str:
  """'<100', '100-300', ..., '>=3000' for an instance's pixel count."""
  return AREA_LABELS[bisect.bisect_right(AREA_BINS, area)]


def best_instance(panoptic: np.ndarray, region: np.ndarray, semantic: int,
                  divisor: int = _DIVISOR) -> tuple[int | None, int]:
  """The `semantic`-class instance (panoptic value) overlapping `region` most, and its overlap."""
  values, counts = np.unique(panoptic[region], return_counts=True)
  best, best_count = None, 0
  for v, c in zip(values, counts):
    if v // divisor == semantic and v % divisor > 0 and c > best_count:
      best, best_count = int(v), int(c)
  return best, best_count


def oracle_ids(gt: np.ndarray, pred: np.ndarray, divisor: int = _DIVISOR) -> np.ndarray:
  """`pred` with each thing segment relabelled by its best-overlapping GT instance.

  Segments that overlap no same-class instance keep a distinct id (unused by
  the ground truth), so they still count as false positives.
  """
  out = pred.copy()
  for value in np.unique(pred[pred % divisor > 0]):
    segment = pred == value
    semantic = int(value // divisor)
    match, _ = best_instance(gt, segment, semantic, divisor)
    if match is None:
      half = divisor // 2   # upper half of the id range: unmatched segments.
      match = semantic * divisor + half + int(value % divisor) % half
    out[segment] = match
  return out


@dataclasses.dataclass
class TrackErrors:
  """Per GT instance and frame: covered (kept / switched its id) or missed.

  `shared_by_class` counts covered instance-frames whose covering segment
  covers another instance of the same frame too;
  `total_by_size` / `missed_by_size` count instance-frames per (semantic
  class, `area_bin`).
  """
  min_cover: float = 0.2
  kept: int = 0
  switched: int = 0
  first_seen: int = 0
  missed: int = 0
  shared_by_class: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  missed_as: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  total_by_size: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  missed_by_size: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  _last: dict = dataclasses.field(default_factory=dict)   # (seq, gt) -> pred value

  def update(self, gt: np.ndarray, pred: np.ndarray, sequence: int,
             divisor: int = _DIVISOR) -> None:
    covered_by = collections.Counter()   # pred value -> GT instances it covers here.
    for value in np.unique(gt[gt % divisor > 0]):
      region = gt == value
      area = int(region.sum())
      semantic = int(value // divisor)
      size_key = (semantic, area_bin(area))
      self.total_by_size[size_key] += 1
      current, overlap = best_instance(pred, region, semantic, divisor)
      key = (sequence, int(value))
      if current is None or overlap <= self.min_cover * area:
        self.missed += 1
        self.missed_by_size[size_key] += 1
        classes = np.bincount((pred[region] // divisor).ravel())
        self.missed_as[int(classes.argmax())] += 1
        continue
      covered_by[current] += 1
      previous = self._last.get(key)
      if previous is None:
        self.first_seen += 1
      elif previous == current:
        self.kept += 1
      else:
        self.switched += 1
      self._last[key] = current
    for value, n in covered_by.items():
      if n > 1:
        self.shared_by_class[int(value // divisor)] += n

  def result(self) -> dict:
    by_size = {}   # class -> bin -> [missed, total]
    for semantic in sorted({c for c, _ in self.total_by_size}):
      by_size[semantic] = {b: [self.missed_by_size[(semantic, b)], self.total_by_size[(semantic, b)]]
                           for b in AREA_LABELS if self.total_by_size[(semantic, b)]}
    return {"kept": self.kept, "switched": self.switched,
            "first_seen": self.first_seen, "missed": self.missed,
            "shared": sum(self.shared_by_class.values()),
            "shared_by_class": dict(sorted(self.shared_by_class.items())),
            "missed_predicted_as": dict(sorted(self.missed_as.items())),
            "missed_of_total_by_class_and_area": by_size}


def analyse(groundtruth: str, predictions: str) -> dict:
  """STQ/AQ as scored and with oracle ids, and the per-frame error counts."""
  pairs = score_folders.kitti_pairs(groundtruth, predictions)
  scored = kitti_step_stq("official", _DIVISOR)
  oracle = kitti_step_stq("official", _DIVISOR)
  errors = TrackErrors()
  for sequence, frames in pairs:
    for gt_path, pred_path, gt, pred in score_folders.kitti_frames(frames):
      try:
        scored.update_counts(count_pairs(gt, pred), sequence)
        oracle.update_counts(count_pairs(gt, oracle_ids(gt, pred)), sequence)
      except ValueError as e:
        raise score_folders.ScoringError(f"{pred_path} vs {gt_path}: {e}") from e
      errors.update(gt, pred, sequence)
  as_scored, with_oracle = scored.result(), oracle.result()
  pick = lambda r: {k: float(r[k]) for k in ("STQ", "AQ", "IoU")}
  return {"scored": pick(as_scored), "oracle_ids": pick(with_oracle),
          "per_frame": errors.result()}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--groundtruth", required=True, help="KITTI-STEP panoptic PNG dir")
  parser.add_argument("--predictions", required=True, help="same format, <seq>/<frame>.png")
  args = parser.parse_args(argv)
  try:
    result = analyse(args.groundtruth, args.predictions)
  except score_folders.ScoringError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  s, o = result["scored"], result["oracle_ids"]
  print(f"scored:     STQ {100 * s['STQ']:.2f}  AQ {100 * s['AQ']:.2f}  SQ {100 * s['IoU']:.2f}")
  print(f"oracle ids: STQ {100 * o['STQ']:.2f}  AQ {100 * o['AQ']:.2f}  SQ {100 * o['IoU']:.2f}")
  print(json.dumps(result["per_frame"]))
  return 0


if __name__ == "__main__":
  sys.exit(main())
