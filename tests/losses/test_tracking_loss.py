"""Tracking losses: hand-computed cases and a dynamic-shape numpy reference."""
import math

import jax
import jax.numpy as jnp
import numpy as np

from video_knet_jax.losses import tracking_loss

KW = dict(pos_margin=0.0, neg_margin=0.1, neg_pos_ub=3)


def _hand_batch():
  """Image 0: 2 matched key / 3 matched ref proposals; image 1: no pairs."""
  key_emb = np.array([[[1., 0.], [5., 5.], [0., 2.]],
                      [[1., 0.], [0., 1.], [3., 3.]]], np.float32)
  ref_emb = np.array([[[2., 0.], [0., 1.], [9., 9.], [1., 1.]],
                      [[1., 0.], [0., 1.], [1., 1.], [2., 1.]]], np.float32)
  key_p2g = np.array([[1, -1, 0], [0, 1, -1]])
  ref_p2g = np.array([[0, 2, -1, 1], [0, 1, 2, 3]])
  key_ids = np.array([[10, 20, 30, 0], [1, 2, 3, 0]])
  ref_ids = np.array([[20, 40, 10, 0], [7, 8, 9, 6]])
  return key_emb, ref_emb, key_p2g, ref_p2g, key_ids, ref_ids


def test_tracking_losses_hand_computed():
  # Image 0: key row0 (id 20) = [1, 0], row2 (id 10) = [0, 2]; ref col0 (id 20)
  # = [2, 0], col1 (id 10) = [0, 1], col3 (id 40) = [1, 1].
  # dot: row0 -> (2, 0, 1), row2 -> (0, 2, 2); positives (0,0), (2,1).
  row0 = math.log(1 + math.exp(0 - 2) + math.exp(1 - 2))
  row2 = math.log(1 + math.exp(0 - 2) + math.exp(2 - 2))
  track0 = (row0 + row2) / 2
  # cos: positives 1 (error 0); negatives 0, 1/sqrt2, 0, 1/sqrt2 minus 0.1,
  # clamped; 4 negatives / (2 + 1) <= 3 keeps all 6 entries.
  aux0 = 2 * (1 / math.sqrt(2) - 0.1)**2 / 6
  # Image 1: 2 x 4 matched pairs, no shared id: no positive rows (track 0);
  # 8 negatives / (0 + 1) > 3 keeps 3 * 0 negatives -> aux 0.
  track, aux = jax.jit(lambda *a: tracking_loss.tracking_losses(*a, **KW))(
      *_hand_batch())
  np.testing.assert_allclose(track, track0 / 2, rtol=1e-5)
  np.testing.assert_allclose(aux, aux0 / 2, rtol=1e-5)


def test_l2_hard_negative_cap_hand_computed():
  cos = np.array([[0.9, 0.5, 0.05, 0.8, 0.3, 0.2, 0.6, -0.4]], np.float32)
  targets = np.zeros((1, 8), bool)
  targets[0, 0] = True
  valid = np.ones((1, 8), bool)
  # 7 negatives / 2 > 3: keep the 3 hardest of (.4, 0, .7, .2, .1, .5, 0)^2.
  expect = ((0.9 - 1)**2 + 0.7**2 + 0.5**2 + 0.4**2) / 4
  got = tracking_loss.l2_similarity_loss(cos, targets, valid, **KW)
  np.testing.assert_allclose(got, expect, rtol=1e-5)
  # 2 positives: 6 / 3 = 2 <= 3 keeps every entry.
  targets[0, 1] = True
  errs = [0.01, 0.25, 0, 0.49, 0.04, 0.01, 0.25, 0]
  got = tracking_loss.l2_similarity_loss(cos, targets, valid, **KW)
  np.testing.assert_allclose(got, sum(errs) / 8, rtol=1e-5)


def _reference_image(ke, re, kp, rp, ki, ri, pos_margin, neg_margin,
                     neg_pos_ub):
  """Dynamic-shape numpy port of the original per-image computation."""
  kidx, ridx = np.flatnonzero(kp >= 0), np.flatnonzero(rp >= 0)
  ke, re = ke[kidx].astype(np.float64), re[ridx].astype(np.float64)
  t = (ki[kp[kidx]][:, None] == ri[rp[ridx]][None, :]).astype(np.float64)
  if t.size == 0:
    return 0.0, 0.0
  d = ke @ re.T
  losses, weights = [], []
  for i in range(len(d)):
    pos, neg = d[i][t[i] == 1], d[i][t[i] == 0]
    pairs = [n - p for p in pos for n in neg] + [0.0]
    losses.append(np.log(np.sum(np.exp(pairs))))
    weights.append(float(len(pos) > 0))
  track = np.dot(losses, weights) / max(np.sum(weights), 1e-30) if np.sum(
      weights) else 0.0
  cos = (ke / np.linalg.norm(ke, axis=1, keepdims=True)) @ (
      re / np.linalg.norm(re, axis=1, keepdims=True)).T
  pred = cos.copy()
  if pos_margin > 0:
    pred[t == 1] -= pos_margin
  if neg_margin > 0:
    pred[t == 0] -= neg_margin
  pred = np.clip(pred, 0, 1)
  err = (pred - t)**2
  w = np.ones_like(t)
  num_pos, num_neg = int(t.sum()), int((t == 0).sum())
  if neg_pos_ub > 0 and num_neg / (num_pos + 1) > neg_pos_ub:
    neg_idx = np.argwhere(t == 0)
    costs = err[t == 0]
    keep = neg_idx[np.argsort(-costs, kind="stable")[:num_pos * neg_pos_ub]]
    w[t == 0] = 0
    w[keep[:, 0], keep[:, 1]] = 1
  aux = (err * w).sum() / w.sum() if w.sum() else 0.0
  return track, aux


def test_tracking_losses_match_numpy_reference():
  rng = np.random.default_rng(0)
  b, p, m, e = 6, 8, 6, 4
  key_emb = rng.normal(size=(b, p, e)).astype(np.float32)
  ref_emb = rng.normal(size=(b, p, e)).astype(np.float32)
  key_ids = rng.integers(0, 5, (b, m))
  ref_ids = rng.integers(0, 5, (b, m))
  key_p2g = np.full((b, p), -1)
  ref_p2g = np.full((b, p), -1)
  for i in range(b):
    nk, nr = rng.integers(0, m + 1, 2)
    key_p2g[i, rng.permutation(p)[:nk]] = rng.permutation(m)[:nk]
    ref_p2g[i, rng.permutation(p)[:nr]] = rng.permutation(m)[:nr]
  for kw in (KW, dict(pos_margin=0.2, neg_margin=0.3, neg_pos_ub=1)):
    track, aux = jax.jit(lambda *a, kw=kw: tracking_loss.tracking_losses(
        *a, **kw))(key_emb, ref_emb, key_p2g, ref_p2g, key_ids, ref_ids)
    ref = np.array([_reference_image(key_emb[i], ref_emb[i], key_p2g[i],
                                     ref_p2g[i], key_ids[i], ref_ids[i], **kw)
                    for i in range(b)])
    np.testing.assert_allclose(track, ref[:, 0].mean(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(aux, ref[:, 1].mean(), rtol=1e-4, atol=1e-6)


def test_tracking_gradients_finite_and_masked():
  args = list(_hand_batch())
  def loss(ke, re):
    t, a = tracking_loss.tracking_losses(ke, re, *args[2:], **KW)
    return t + a
  gk, gr = jax.jit(jax.grad(loss, argnums=(0, 1)))(jnp.asarray(args[0]),
                                          jnp.asarray(args[1]))
  assert np.all(np.isfinite(gk)) and np.all(np.isfinite(gr))
  # Unmatched proposals (key row 1, ref col 2 of image 0) get no gradient.
  assert np.all(np.asarray(gk)[0, 1] == 0) and np.all(np.asarray(gr)[0, 2] == 0)
  assert np.abs(np.asarray(gk)[0, 0]).sum() > 0
