"""Pixel statistics of a (gt, prediction) id-map pair, computed without sorting.

Every panoptic metric here (PQ, VPQ, STQ) only needs, per frame, the area of each
ground-truth id, the area of each predicted id and the overlap of every
(gt id, predicted id) pair that co-occurs. `count_pairs` computes that table with
`np.bincount` over densified ids (a few linear passes over the pixels instead of
one `np.unique` sort per frame); `merge_counts` adds the tables of several frames,
which is how a VPQ window ("k frames stacked") is scored without re-reading pixels.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

# Largest id range densified with a direct lookup table (2 MiB of int64 counts).
_LUT_SIZE = 1 << 18
# Ids at or above this bound are densified with `np.unique` (a sort).
_SPLIT_LIMIT = 1 << 32


def _dense_lut(ids: np.ndarray, size: int):
  counts = np.bincount(ids, minlength=size)
  uniq = np.flatnonzero(counts)
  lut = np.zeros(size, np.int64)
  lut[uniq] = np.arange(uniq.size)
  return uniq.astype(np.int64), lut[ids], counts[uniq].astype(np.int64)


def dense_ids(ids: np.ndarray):
  """Densifies non-negative integer ids.

  Args:
    ids: [N] non-negative integers.

  Returns:
    (unique [K] int64 ascending, inverse [N] int64 with unique[inverse] == ids,
    counts [K] int64).
  """
  ids = np.asarray(ids).reshape(-1)
  if ids.size == 0:
    empty = np.zeros(0, np.int64)
    return empty, empty, empty
  if ids.dtype.kind not in "iu":
    raise ValueError(f"ids must be integers, got dtype {ids.dtype}")
  if ids.dtype.kind == "i" and int(ids.min()) < 0:
    raise ValueError(f"ids must be non-negative, found {int(ids.min())}")
  size = int(ids.max()) + 1
  if size <= _LUT_SIZE:
    return _dense_lut(ids.astype(np.intp, copy=False), size)
  if size <= _SPLIT_LIMIT:
    # Two 16-bit halves, each densified by a small table, then their pairs.
    ids64 = ids.astype(np.int64, copy=False)
    hi_u, hi_inv, _ = _dense_lut(ids64 >> 16, (size >> 16) + 1)
    lo_u, lo_inv, _ = _dense_lut(ids64 & 0xFFFF, 1 << 16)
    comb_size = hi_u.size * lo_u.size
    if comb_size <= max(_LUT_SIZE, 4 * ids.size):
      comb_u, inv, counts = _dense_lut(hi_inv * lo_u.size + lo_inv, comb_size)
      uniq = (hi_u[comb_u // lo_u.size] << 16) | lo_u[comb_u % lo_u.size]
      return uniq, inv, counts
  uniq, inv, counts = np.unique(ids, return_inverse=True, return_counts=True)
  return uniq.astype(np.int64), inv.reshape(-1).astype(np.int64), counts.astype(np.int64)


@dataclasses.dataclass
class SegmentCounts:
  """Areas and pairwise overlaps of the ids of one frame or of stacked frames.

  gt_ids/pred_ids are ascending and unique; pair_gt/pair_pred index into them.
  """
  gt_ids: np.ndarray       # [G] int64
  gt_areas: np.ndarray     # [G] int64
  pred_ids: np.ndarray     # [P] int64
  pred_areas: np.ndarray   # [P] int64
  pair_gt: np.ndarray      # [E] int64 index into gt_ids
  pair_pred: np.ndarray    # [E] int64 index into pred_ids
  pair_counts: np.ndarray  # [E] int64 overlap in pixels (> 0)

  @property
  def num_pixels(self) -> int:
    return int(self.gt_areas.sum())

  def restrict(self, keep_pair: np.ndarray) -> "SegmentCounts":
    """The table of the pixels covered by the kept pairs (areas recomputed)."""
    return from_pairs(self.gt_ids[self.pair_gt[keep_pair]],
                      self.pred_ids[self.pair_pred[keep_pair]],
                      self.pair_counts[keep_pair])


def count_pairs(gt: np.ndarray, pred: np.ndarray) -> SegmentCounts:
  """Counts ids and id pairs of two equally shaped integer maps.

  Label maps are piecewise constant, so the combined key gt * M + pred is first
  run-length encoded along the raster order (one comparison pass); only the few
  thousand runs are then aggregated. Maps with many short runs (noise) use the
  sort-free lookup-table densification of both maps instead.
  """
  gt = np.asarray(gt)
  pred = np.asarray(pred)
  if gt.shape != pred.shape:
    raise ValueError(f"ground truth shape {gt.shape} != prediction shape {pred.shape}")
  for name, arr in (("ground truth", gt), ("prediction", pred)):
    if arr.dtype.kind not in "iu":
      raise ValueError(f"{name} ids must be integers, got dtype {arr.dtype}")
  g = gt.reshape(-1)
  p = pred.reshape(-1)
  if g.size == 0:
    empty = np.zeros(0, np.int64)
    return SegmentCounts(empty, empty, empty, empty, empty, empty, empty)
  g_min, p_min = int(g.min()), int(p.min())
  if g_min < 0 or p_min < 0:
    raise ValueError(f"ids must be non-negative, found {min(g_min, p_min)}")
  counts = _count_pairs_runs(g, p)
  return counts if counts is not None else _count_pairs_dense(g, p)


def _count_pairs_runs(g: np.ndarray, p: np.ndarray, max_run_fraction: float = 0.125):
  """Run-length path; None when the maps have too many runs to gain from it."""
  p_range = int(p.max()) + 1
  if (int(g.max()) + 1) * p_range >= (1 << 62):
    return None
  key = np.multiply(g, p_range, dtype=np.int64)  # one allocation, no int64 copies
  key += p
  starts = np.flatnonzero(key[1:] != key[:-1])
  if starts.size >= max_run_fraction * key.size:
    return None
  starts += 1
  run_keys = key[np.concatenate([[0], starts])]
  run_len = np.diff(np.concatenate([[0], starts, [key.size]]))
  uniq, inv = np.unique(run_keys, return_inverse=True)
  counts = np.bincount(inv.reshape(-1), weights=run_len, minlength=uniq.size)
  return from_pairs(uniq // p_range, uniq % p_range, np.rint(counts))


def _count_pairs_dense(g: np.ndarray, p: np.ndarray) -> SegmentCounts:
  """Lookup-table path: densify both maps, then one bincount over pairs."""
  g_ids, g_inv, g_areas = dense_ids(g.astype(np.int64, copy=False))
  p_ids, p_inv, p_areas = dense_ids(p.astype(np.int64, copy=False))
  num_p = max(p_ids.size, 1)
  comb = g_inv * num_p
  comb += p_inv
  if g_ids.size * num_p <= max(_LUT_SIZE, comb.size):
    pair_all = np.bincount(comb, minlength=g_ids.size * num_p)
    comb_u = np.flatnonzero(pair_all)
    comb_counts = pair_all[comb_u]
  else:
    comb_u, comb_counts = np.unique(comb, return_counts=True)
  return SegmentCounts(g_ids, g_areas, p_ids, p_areas, comb_u // num_p,
                       comb_u % num_p, comb_counts.astype(np.int64))


def _aggregate(keys: np.ndarray, values: np.ndarray):
  uniq, inv = np.unique(keys, return_inverse=True)
  sums = np.bincount(inv.reshape(-1), weights=values, minlength=uniq.size)
  return uniq, np.rint(sums).astype(np.int64)


def from_pairs(gt_of_pair: np.ndarray, pred_of_pair: np.ndarray,
               counts: np.ndarray) -> SegmentCounts:
  """Builds a table from (gt id, pred id, overlap) triples (ids may repeat)."""
  gt_of_pair = np.asarray(gt_of_pair, np.int64)
  pred_of_pair = np.asarray(pred_of_pair, np.int64)
  counts = np.asarray(counts, np.int64)
  g_ids, g_areas = _aggregate(gt_of_pair, counts)
  p_ids, p_areas = _aggregate(pred_of_pair, counts)
  gi = np.searchsorted(g_ids, gt_of_pair)
  pi = np.searchsorted(p_ids, pred_of_pair)
  num_p = max(p_ids.size, 1)
  keys, pair_counts = _aggregate(gi * num_p + pi, counts)
  return SegmentCounts(g_ids, g_areas, p_ids, p_areas, keys // num_p,
                       keys % num_p, pair_counts)


def merge_counts(tables: Sequence[SegmentCounts]) -> SegmentCounts:
  """Sums the tables of several frames: ids identify tubes across frames."""
  if len(tables) == 1:
    return tables[0]
  return from_pairs(
      np.concatenate([t.gt_ids[t.pair_gt] for t in tables]),
      np.concatenate([t.pred_ids[t.pair_pred] for t in tables]),
      np.concatenate([t.pair_counts for t in tables]))
