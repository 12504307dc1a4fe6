"""Matcher: costs vs numpy, assignment vs scipy, padding, jit/vmap, no grad."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from video_knet_jax.losses import matching


def _sigmoid(x):
  return 1 / (1 + np.exp(-x))


def _np_costs(m, c, g, lab, w_cls, w_dice, w_mask, alpha=0.25, gamma=2.0):
  """Independent numpy version of the recipe's three costs."""
  p_d = np.clip(_sigmoid(m), 1e-3, 1).reshape(len(m), -1)
  p_m = np.clip(_sigmoid(m), 1e-2, 1).reshape(len(m), -1)
  t = g.reshape(len(g), -1)
  cost = np.zeros((len(m), len(g)))
  for i in range(len(m)):
    for j in range(len(g)):
      dice = 2 * (p_d[i] * t[j]).sum() / (
          (p_d[i]**2).sum() + 1e-3 + (t[j]**2).sum() + 1e-3)
      agree = ((p_m[i] * t[j]) + (1 - p_m[i]) * (1 - t[j])).mean()
      cost[i, j] = -w_dice * dice - w_mask * agree
      if c is not None:
        p = _sigmoid(c[i, lab[j]])
        cost[i, j] += w_cls * (alpha * (1 - p)**gamma * -np.log(p + 1e-12) -
                               (1 - alpha) * p**gamma * -np.log(1 - p + 1e-12))
  return cost


def test_costs_match_numpy():
  rng = np.random.default_rng(0)
  m = rng.normal(size=(5, 6, 7)).astype(np.float32) * 3
  g = rng.random((3, 6, 7)).astype(np.float32)
  c = rng.normal(size=(5, 2)).astype(np.float32) * 3
  lab = np.array([1, 0, 1])
  got = matching.match_cost(m, c, g, lab, np.ones(3, bool), cls_weight=2.,
                            dice_weight=4., mask_weight=1., alpha=0.25,
                            gamma=2.)
  np.testing.assert_allclose(got, _np_costs(m, c, g, lab, 2., 4., 1.),
                             rtol=1e-5, atol=1e-6)
  got = matching.match_cost(m, None, g, lab, np.array([True, False, True]),
                            cls_weight=2., dice_weight=4., mask_weight=1.,
                            alpha=0.25, gamma=2.)
  ref = _np_costs(m, None, g, lab, 2., 4., 1.)
  np.testing.assert_allclose(got[:, [0, 2]], ref[:, [0, 2]], rtol=1e-5,
                             atol=1e-6)
  assert np.all(np.asarray(got[:, 1]) == np.max(got[:, [0, 2]]) +
                matching.PAD_MARGIN)


@pytest.mark.parametrize("num_preds,num_gts,num_valid",
                         [(8, 5, 3), (8, 5, 5), (4, 6, 5), (4, 6, 3), (6, 4, 0),
                          (5, 5, 5)])
def test_hungarian_matches_scipy_with_padding(num_preds, num_gts, num_valid):
  rng = np.random.default_rng(num_preds * 10 + num_gts + num_valid)
  for _ in range(3):
    cost = rng.normal(size=(num_preds, num_gts)).astype(np.float32) * 5
    valid = np.zeros(num_gts, bool)
    valid[rng.permutation(num_gts)[:num_valid]] = True
    padded = np.asarray(matching.pad_columns(cost, valid))
    res = jax.jit(matching.hungarian_assign)(padded, valid)
    p2g, g2p = np.asarray(res.pred_to_gt), np.asarray(res.gt_to_pred)
    cols = np.flatnonzero(valid)
    rows_ref, sub_ref = linear_sum_assignment(cost[:, cols])
    expect_p2g = -np.ones(num_preds, int)
    expect_p2g[rows_ref] = cols[sub_ref]
    np.testing.assert_array_equal(p2g, expect_p2g)
    expect_g2p = -np.ones(num_gts, int)
    expect_g2p[cols[sub_ref]] = rows_ref
    np.testing.assert_array_equal(g2p, expect_g2p)


def test_assign_batched_jit_vmap_and_nonfinite():
  rng = np.random.default_rng(1)
  b, p, m = 3, 6, 4
  logits = rng.normal(size=(b, p, 8, 8)).astype(np.float32) * 3
  cls = rng.normal(size=(b, p, 2)).astype(np.float32)
  gts = (rng.random((b, m, 8, 8)) > 0.6).astype(np.float32)
  labels = rng.integers(0, 2, (b, m))
  valid = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], bool)
  fn = jax.jit(lambda *a: matching.assign(
      *a, cls_weight=2., dice_weight=4., mask_weight=1., alpha=.25, gamma=2.))
  res = fn(logits, cls, gts, labels, valid)
  for i in range(b):
    cols = np.flatnonzero(valid[i])
    expect = -np.ones(p, int)
    if len(cols):
      cost = _np_costs(logits[i], cls[i], gts[i][cols], labels[i][cols], 2., 4.,
                       1.)
      r, cidx = linear_sum_assignment(cost)
      expect[r] = cols[cidx]
    np.testing.assert_array_equal(res.pred_to_gt[i], expect)
  assert np.all(np.asarray(res.gt_to_pred)[~valid] == -1)
  # NaN / inf logits: still a valid one-to-one assignment of the valid GTs.
  bad = logits.copy()
  bad[0, :2] = np.nan
  bad[1, 3] = np.inf
  res = fn(bad, cls, gts, labels, valid)
  g2p = np.asarray(res.gt_to_pred)
  assert np.all((g2p >= 0) == valid)
  for i in range(b):
    used = g2p[i][g2p[i] >= 0]
    assert len(set(used.tolist())) == len(used)


def test_no_gradient_through_assignment():
  """The loss gradient equals the gradient with the assignment held fixed."""
  rng = np.random.default_rng(2)
  logits = jnp.asarray(rng.normal(size=(2, 5, 6, 6)), jnp.float32)
  gts = jnp.asarray(rng.random((2, 3, 6, 6)) > 0.5, jnp.float32)
  labels = jnp.zeros((2, 3), jnp.int32)
  valid = jnp.ones((2, 3), bool)

  def loss(x, fixed=None):
    res = fixed if fixed is not None else matching.assign(
        x, None, gts, labels, valid, cls_weight=2., dice_weight=4.,
        mask_weight=1., alpha=.25, gamma=2.)
    tgt = jax.vmap(lambda g, i: g[jnp.maximum(i, 0)])(gts, res.pred_to_gt)
    w = (res.pred_to_gt >= 0)[..., None, None]
    return jnp.sum(w * (jax.nn.sigmoid(x) - tgt)**2)

  fixed = matching.assign(logits, None, gts, labels, valid, cls_weight=2.,
                          dice_weight=4., mask_weight=1., alpha=.25, gamma=2.)
  g = jax.jit(jax.grad(loss))(logits)
  g_fixed = jax.jit(jax.grad(lambda x: loss(x, fixed)))(logits)
  np.testing.assert_allclose(g, g_fixed, rtol=1e-6)
  assert np.abs(np.asarray(g)).sum() > 0


def test_hungarian_is_optimal_with_close_costs():
  # Valid costs ~ -0.5 whose best and second-best assignments differ by
  # ~1e-3: padding at 1e5 (the old constant) made the float32 solver return
  # a non-optimal matching on such matrices (seen in the golden recipe).
  rng = np.random.default_rng(7)
  for _ in range(20):
    cost = (-0.5 + 1e-3 * rng.normal(size=(8, 8))).astype(np.float32)
    valid = np.arange(8) < 3
    res = matching.hungarian_assign(matching.pad_columns(cost, valid),
                                    jnp.asarray(valid))
    rows = np.flatnonzero(np.asarray(res.pred_to_gt) >= 0)
    got = cost[rows, np.asarray(res.pred_to_gt)[rows]].sum(dtype=np.float64)
    r, c = linear_sum_assignment(cost[:, :3].astype(np.float64))
    assert got <= cost[:, :3][r, c].sum(dtype=np.float64) + 1e-6
