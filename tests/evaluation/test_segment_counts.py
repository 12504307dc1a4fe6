"""dense_ids / count_pairs / merge_counts against brute-force counting."""
import numpy as np
import pytest

from video_knet_jax.evaluation import segment_counts


@pytest.mark.parametrize("high", [50, 300_000, 3_000_000_000, 2**40])
def test_dense_ids_matches_unique(high):
  # Covers the lookup-table, two-halves and np.unique paths.
  rng = np.random.default_rng(high % 1000)
  ids = rng.choice(rng.integers(0, high, 40, dtype=np.int64), size=500)
  uniq, inv, counts = segment_counts.dense_ids(ids)
  e_uniq, e_inv, e_counts = np.unique(ids, return_inverse=True, return_counts=True)
  np.testing.assert_array_equal(uniq, e_uniq)
  np.testing.assert_array_equal(inv, e_inv.reshape(-1))
  np.testing.assert_array_equal(counts, e_counts)


def test_dense_ids_rejects_negative():
  with pytest.raises(ValueError, match="non-negative"):
    segment_counts.dense_ids(np.array([3, -1]))


def _brute(gt, pred):
  pairs = {}
  for g, p in zip(gt.ravel().tolist(), pred.ravel().tolist()):
    pairs[g, p] = pairs.get((g, p), 0) + 1
  return pairs


def _as_dict(c):
  return {(int(c.gt_ids[g]), int(c.pred_ids[p])): int(n)
          for g, p, n in zip(c.pair_gt, c.pair_pred, c.pair_counts)}


def test_count_pairs_and_merge_match_brute_force():
  rng = np.random.default_rng(0)
  frames = [(rng.integers(0, 4, (5, 7)) * 70_000 + rng.integers(0, 3, (5, 7)),
             rng.integers(0, 5, (5, 7)) * 1000) for _ in range(3)]
  tables = [segment_counts.count_pairs(g, p) for g, p in frames]
  for (g, p), t in zip(frames, tables):
    assert _as_dict(t) == _brute(g, p)
    assert dict(zip(t.gt_ids.tolist(), t.gt_areas.tolist())) == {
        int(k): int(v) for k, v in zip(*np.unique(g, return_counts=True))}
  merged = segment_counts.merge_counts(tables)
  gt_all = np.concatenate([g for g, _ in frames], 1)
  pred_all = np.concatenate([p for _, p in frames], 1)
  assert _as_dict(merged) == _brute(gt_all, pred_all)
  np.testing.assert_array_equal(merged.pred_areas,
                                np.unique(pred_all, return_counts=True)[1])


def test_count_pairs_shape_mismatch():
  with pytest.raises(ValueError, match="shape"):
    segment_counts.count_pairs(np.zeros((2, 3), int), np.zeros((3, 2), int))


@pytest.mark.parametrize("block", [1, 5])
def test_run_length_and_dense_paths_agree(block):
  rng = np.random.default_rng(block)
  small = lambda: rng.integers(0, 6, (8, 10)) * 1000 + rng.integers(0, 3, (8, 10))
  gt = np.kron(small(), np.ones((block, block), np.int64))
  pred = np.kron(small(), np.ones((block, block), np.int64))
  runs = segment_counts._count_pairs_runs(gt.ravel(), pred.ravel(), max_run_fraction=1.1)
  dense = segment_counts._count_pairs_dense(gt.ravel(), pred.ravel())
  assert _as_dict(runs) == _as_dict(dense) == _brute(gt, pred)
  for field in ("gt_ids", "gt_areas", "pred_ids", "pred_areas"):
    np.testing.assert_array_equal(getattr(runs, field), getattr(dense, field))
  # The public entry point picks a path by itself and gives the same table.
  assert _as_dict(segment_counts.count_pairs(gt, pred)) == _brute(gt, pred)
