"""PQ (panopticapi) and VPQ (VPSNet, Cityscapes-VPS) on COCO-panoptic segments.

Input per frame: an id map (segment id = R + 256 G + 65536 B of the PNG, 0 =
VOID) and the JSON `segments_info` list (id, category_id, iscrowd, area).
Rules (metrics_and_datasets.md 2.1, 2.2): gt areas come from the JSON,
prediction areas from the PNG; crowd gt segments are never matched nor FN and
the last crowd segment of a category (JSON order) exempts predictions of that
category from FP together with VOID; pairs need the same category and IoU > 0.5
with the prediction's VOID overlap removed from the union; counts pooled per
category; mean over categories with tp+fp+fn > 0 (NaN when none: panopticapi
raises ZeroDivisionError).

VPQ (`CocoVideoPanopticQuality`): every window of n consecutive annotated frames
of a video (stride 1) is one "image"; tracks are ids shared across frames.
A gt tube's area is the sum of its JSON areas over the window's frames, as
VPSNet's tools/eval_vpq.py computes it at its current head (mcahny/vps, since
the commit "fix data tampering in vpq evaluation", 2020-09-30, which deep-copies
the per-frame segment dicts). This is the default: it gives the numbers the
official script gives today. Before that fix the script summed the areas *in
place* into the dict of the frame where the tube first appears; that dict is
reused by the next windows, so for n >= 3 a tube absent from a window's first
frame got an inflated area in later windows. `reference_area_aliasing=True`
reproduces the pre-fix script, i.e. Cityscapes-VPS VPQ published from it (the
VPSNet paper, CVPR 2020, predates the fix). Both agree whenever tubes never
appear mid-window (always for windows of 1 and 2 frames).

Stricter than the references (they crash, or silently ignore): duplicate ids in
a JSON, unknown categories, predicted ids missing from PNG or JSON, and gt PNG
ids missing from the gt JSON raise ValueError naming the frame.
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Dict, Hashable, List, Mapping, Sequence

import numpy as np

from video_knet_jax.evaluation import pq_matching
from video_knet_jax.evaluation.segment_counts import SegmentCounts, count_pairs, merge_counts

VOID = 0


def rgb_to_id(rgb: np.ndarray) -> np.ndarray:
  """[H, W, 3] uint8 COCO-panoptic colours -> [H, W] int64 segment ids."""
  rgb = np.asarray(rgb)
  if rgb.ndim != 3 or rgb.shape[-1] < 3:
    raise ValueError(f"expected an [H, W, 3] RGB array, got shape {rgb.shape}")
  rgb = rgb[..., :3].astype(np.int64)
  return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def id_to_rgb(ids: np.ndarray) -> np.ndarray:
  """[H, W] segment ids -> [H, W, 3] uint8 colours."""
  ids = np.asarray(ids, np.int64)
  return np.stack([ids % 256, ids // 256 % 256, ids // 65536 % 256], -1).astype(np.uint8)


@dataclasses.dataclass
class _Frame:
  counts: SegmentCounts
  gt_segments: List[tuple]       # (id, category index, iscrowd, json area), JSON order
  pred_category: Dict[int, int]  # id -> category index
  areas: Dict[int, Dict[int, int]]  # window size -> mutable gt area per id


def _segments(segments_info, cat_index: Mapping[int, int], what: str, name: str):
  out = []
  seen = set()
  for seg in segments_info:
    try:
      sid, cid = int(seg["id"]), int(seg["category_id"])
    except (KeyError, TypeError, ValueError) as e:
      raise ValueError(f"{name}: malformed {what} segment {seg!r}") from e
    if sid in seen:
      raise ValueError(f"{name}: {what} segment id {sid} appears twice in the JSON")
    seen.add(sid)
    if cid not in cat_index:
      raise ValueError(f"{name}: {what} segment {sid} has unknown category_id {cid}")
    out.append((sid, cat_index[cid], int(seg.get("iscrowd", 0)), seg))
  return out


def build_frame(gt_ids: np.ndarray, gt_segments_info: Sequence[dict], pred_ids: np.ndarray,
                pred_segments_info: Sequence[dict], cat_index: Mapping[int, int],
                name: str = "") -> _Frame:
  """Validates one frame and computes its pixel statistics."""
  gt_ids = np.asarray(gt_ids)
  pred_ids = np.asarray(pred_ids)
  if gt_ids.shape != pred_ids.shape:
    raise ValueError(f"{name}: prediction size {pred_ids.shape} != ground truth size "
                     f"{gt_ids.shape}")
  counts = count_pairs(gt_ids, pred_ids)
  gt = _segments(gt_segments_info, cat_index, "ground-truth", name)
  for sid, _, _, seg in gt:
    if "area" not in seg:
      raise ValueError(f"{name}: ground-truth segment {sid} has no 'area'")
  pred = _segments(pred_segments_info, cat_index, "predicted", name)
  pred_json = {sid for sid, _, _, _ in pred}
  png = set(counts.pred_ids.tolist()) - {VOID}
  if png - pred_json:
    raise ValueError(f"{name}: predicted segment ids {sorted(png - pred_json)[:10]} are in "
                     f"the PNG but not in the JSON")
  if pred_json - png:
    raise ValueError(f"{name}: predicted segment ids {sorted(pred_json - png)[:10]} are in "
                     f"the JSON but not in the PNG")
  gt_json = {sid for sid, _, _, _ in gt}
  gt_png = set(counts.gt_ids.tolist()) - {VOID}
  if gt_png - gt_json:
    raise ValueError(f"{name}: ground-truth segment ids {sorted(gt_png - gt_json)[:10]} are "
                     f"in the PNG but not in the JSON")
  return _Frame(counts, [(sid, c, crowd, int(seg["area"])) for sid, c, crowd, seg in gt],
                {sid: c for sid, c, _, _ in pred}, {})


def _score(frames: Sequence[_Frame], n: int, num_categories: int,
           aliasing: bool) -> pq_matching.PQStats:
  """Scores the window made of `frames` (one frame = image PQ)."""
  counts = merge_counts([f.counts for f in frames])
  # Tube attributes in first-appearance order (VPSNet's dict insertion order).
  info = {}  # id -> [category, iscrowd, area]
  for f in frames:
    state = f.areas.setdefault(n, {sid: area for sid, _, _, area in f.gt_segments})
    for sid, cat, crowd, _ in f.gt_segments:
      if sid not in info:
        info[sid] = [cat, crowd, f, state[sid]]
      else:
        first = info[sid][2]
        if aliasing:
          first.areas[n][sid] += state[sid]
          info[sid][3] = first.areas[n][sid]
        else:
          info[sid][3] += state[sid]
  crowd_of_cat = {}
  for sid, (cat, crowd, _, _) in info.items():
    if crowd == 1:
      crowd_of_cat[cat] = sid
  pred_cat = {}
  for f in frames:
    for sid, cat in f.pred_category.items():
      pred_cat.setdefault(sid, cat)

  # Segment index space: every JSON id (JSON-only ids are FNs) plus VOID.
  all_ids = np.union1d(counts.gt_ids, np.fromiter(info.keys(), np.int64, len(info)))
  remap = np.searchsorted(all_ids, counts.gt_ids)
  num = all_ids.size
  gt_cat = np.full(num, -1, np.int64)
  matchable = np.zeros(num, bool)
  fp_crowd = np.zeros(num, bool)
  areas = np.zeros(num, np.int64)
  areas[remap] = counts.gt_areas
  for k, sid in enumerate(all_ids.tolist()):
    if sid in info:
      cat, crowd, _, area = info[sid]
      gt_cat[k] = cat
      areas[k] = area
      matchable[k] = crowd != 1
      fp_crowd[k] = crowd == 1 and crowd_of_cat.get(cat) == sid
  is_void = all_ids == VOID
  window = SegmentCounts(all_ids, areas, counts.pred_ids, counts.pred_areas,
                         remap[counts.pair_gt], counts.pair_pred, counts.pair_counts)
  p_cat = np.array([pred_cat.get(int(s), -1) for s in counts.pred_ids.tolist()], np.int64)
  return pq_matching.match_segments(
      window, num_categories=num_categories, gt_cat=gt_cat, gt_matchable=matchable,
      gt_union_void=is_void, gt_fp_void=is_void, gt_fp_crowd=fp_crowd, pred_cat=p_cat)


def _categories(categories):
  if isinstance(categories, Mapping):
    categories = list(categories.values())
  cats = list(categories)
  ids = [int(c["id"]) for c in cats]
  if len(set(ids)) != len(ids):
    raise ValueError(f"duplicate category ids in {ids}")
  isthing = [int(c.get("isthing", 0)) == 1 for c in cats]
  return ids, isthing, {cid: k for k, cid in enumerate(ids)}


class CocoPanopticQuality:
  """Image PQ with panopticapi semantics, streamed image by image.

  categories: the gt JSON's `categories` list (id, isthing; order kept).
  """

  def __init__(self, categories):
    self.category_ids, self.isthing, self._index = _categories(categories)
    self._stats = pq_matching.PQStats.zeros(len(self.category_ids))
    self.num_images = 0

  def update(self, gt_ids, gt_segments_info, pred_ids, pred_segments_info, name: str = ""):
    frame = build_frame(gt_ids, gt_segments_info, pred_ids, pred_segments_info,
                        self._index, name)
    self._stats += _score([frame], 1, len(self.category_ids), aliasing=False)
    self.num_images += 1

  def result(self) -> dict:
    out = pq_matching.report(self._stats, self.category_ids, self.isthing)
    out["num_images"] = self.num_images
    return out


class CocoVideoPanopticQuality:
  """VPQ with VPSNet semantics (Cityscapes-VPS), streamed frame by frame.

  Call `update` for the annotated frames of each video in temporal order.
  window_sizes are numbers of annotated frames (Cityscapes-VPS: 1..4, i.e.
  k = (n - 1) * frame_gap = 0, 5, 10, 15 raw frames).
  reference_area_aliasing: False (default) = the official script at its current
  head; True = the script before its 2020-09-30 fix (see the module docstring).
  """

  def __init__(self, categories, window_sizes: Sequence[int] = (1, 2, 3, 4),
               frame_gap: int = 5, reference_area_aliasing: bool = False):
    self.category_ids, self.isthing, self._index = _categories(categories)
    self.window_sizes = tuple(int(n) for n in window_sizes)
    self.frame_gap = int(frame_gap)
    self.aliasing = bool(reference_area_aliasing)
    self._history: Dict[Hashable, collections.deque] = {}
    self._stats = {n: pq_matching.PQStats.zeros(len(self.category_ids))
                   for n in self.window_sizes}
    self._windows = {n: 0 for n in self.window_sizes}

  def update(self, video_id: Hashable, gt_ids, gt_segments_info, pred_ids,
             pred_segments_info, name: str = ""):
    frame = build_frame(gt_ids, gt_segments_info, pred_ids, pred_segments_info,
                        self._index, name)
    hist = self._history.setdefault(video_id,
                                    collections.deque(maxlen=max(self.window_sizes)))
    hist.append(frame)
    frames = list(hist)
    for n in self.window_sizes:
      if len(frames) >= n:
        self._stats[n] += _score(frames[-n:], n, len(self.category_ids), self.aliasing)
        self._windows[n] += 1

  def result(self) -> dict:
    per_k = {}
    for n in self.window_sizes:
      rep = pq_matching.report(self._stats[n], self.category_ids, self.isthing)
      rep["num_windows"] = self._windows[n]
      per_k[str((n - 1) * self.frame_gap)] = rep
    mean = lambda key: float(np.mean([r[key]["PQ"] for r in per_k.values()]))
    return {"VPQ": mean("All"), "VPQ_th": mean("Things"), "VPQ_st": mean("Stuff"),
            "per_k": per_k}
