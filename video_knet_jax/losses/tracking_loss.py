"""Quasi-dense tracking losses between key and reference frame (section 4.2).

Only proposals matched to a GT (in their own frame) give embeddings; with
static shapes every [P, P] pair is computed and unmatched rows/columns are
masked out. Target T[i, j] = 1 iff key proposal i and ref proposal j are
matched to GTs with the same instance id.
  * MultiPosCrossEntropyLoss on dot products:
      row loss = log(1 + sum_{pos p} sum_{neg n} exp(d_n - d_p)),
    averaged over rows with a positive (0 if none).
  * L2Loss on cosine similarity: negatives shifted by -neg_margin (positives
    by -pos_margin if > 0), clamped to [0, 1], squared error to T; if
    #neg / (#pos + 1) > neg_pos_ub only the neg_pos_ub * #pos hardest
    negatives are kept; mean over kept entries.
Both are per image, then averaged over the batch. Unweighted here.
"""
from typing import Optional, Tuple

import jax
import jax.numpy as jnp

# torch F.normalize eps for the cosine similarity.
NORMALIZE_EPS = 1e-12
_BIG = 1e30  # finite stand-in for -inf in masked logsumexp (NaN-free grads).


def _masked_logsumexp(x: jax.Array, mask: jax.Array) -> jax.Array:
  """logsumexp over the last axis of entries where mask; ~-1e30 when empty."""
  x = jnp.where(mask, x, -_BIG)
  peak = jax.lax.stop_gradient(jnp.max(x, axis=-1, keepdims=True))
  s = jnp.sum(jnp.where(mask, jnp.exp(x - peak), 0.0), axis=-1)
  return jnp.log(jnp.maximum(s, 1e-30)) + peak[..., 0] - jnp.where(
      s > 0, 0.0, _BIG)


def multi_pos_cross_entropy(dists: jax.Array, targets: jax.Array,
                            valid: jax.Array) -> jax.Array:
  """One image's MultiPosCrossEntropyLoss.

  Args:
    dists: [K, R] key x ref similarities (dot products).
    targets: [K, R] bool, same instance.
    valid: [K, R] bool, both proposals matched (entries of the original
      [#key_pos, #ref_pos] matrix).

  Returns:
    Scalar: mean over rows that have a positive, 0 if none.
  """
  pos = targets & valid
  neg = (~targets) & valid
  lse_neg = _masked_logsumexp(dists, neg)    # [K]
  lse_pos = _masked_logsumexp(-dists, pos)   # [K]
  row_loss = jax.nn.softplus(lse_neg + lse_pos)
  row_w = jnp.any(pos, axis=-1)
  num = jnp.sum(row_w.astype(jnp.float32))
  total = jnp.sum(jnp.where(row_w, row_loss, 0.0))
  return jnp.where(num > 0, total / jnp.maximum(num, 1.0), 0.0)


def l2_similarity_loss(cos: jax.Array, targets: jax.Array, valid: jax.Array,
                       *, pos_margin: float, neg_margin: float,
                       neg_pos_ub: int) -> jax.Array:
  """One image's L2Loss with margins and hard-negative mining (static shapes).

  Args:
    cos: [K, R] cosine similarities.
    targets: [K, R] bool, same instance.
    valid: [K, R] bool, entries of the original matrix.
    pos_margin, neg_margin, neg_pos_ub: L2Loss settings
      (config.loss.track_aux_*).

  Returns:
    Scalar mean squared error over the kept entries (0 if none).
  """
  pos = targets & valid
  neg = (~targets) & valid
  pred = cos.astype(jnp.float32)
  if pos_margin > 0:
    pred = jnp.where(pos, pred - pos_margin, pred)
  if neg_margin > 0:
    pred = jnp.where(neg, pred - neg_margin, pred)
  pred = jnp.clip(pred, 0.0, 1.0)
  err = (pred - pos.astype(jnp.float32))**2
  num_pos = jnp.sum(pos)
  num_neg = jnp.sum(neg)
  keep_neg = neg
  if neg_pos_ub > 0:
    # Rank negatives by their (detached) loss, hardest first.
    cost = jnp.where(neg, jax.lax.stop_gradient(err), -1.0).reshape(-1)
    order = jnp.argsort(-cost)
    rank = jnp.zeros_like(order).at[order].set(
        jnp.arange(order.shape[0])).reshape(neg.shape)
    capped = num_neg / (num_pos + 1) > neg_pos_ub
    limit = jnp.where(capped, num_pos * neg_pos_ub, num_neg)
    keep_neg = neg & (rank < limit)
  keep = pos | keep_neg
  count = jnp.sum(keep.astype(jnp.float32))
  total = jnp.sum(jnp.where(keep, err, 0.0))
  return jnp.where(count > 0, total / jnp.maximum(count, 1.0), 0.0)


def track_pair_targets(key_pred_to_gt: jax.Array, ref_pred_to_gt: jax.Array,
                       key_ids: jax.Array, ref_ids: jax.Array,
                       ref_negative: Optional[jax.Array] = None
                       ) -> Tuple[jax.Array, jax.Array]:
  """One image's (targets, valid), both [P_key, P_ref] bool.

  key_pred_to_gt/ref_pred_to_gt: [P] matched GT index or -1;
  key_ids/ref_ids: [M] instance ids of the frames' GTs;
  ref_negative: [P] bool, reference proposals that join the columns as
  negatives (QDTrack sampling; None: positives only, the release).
  """
  key_pos = key_pred_to_gt >= 0
  ref_pos = ref_pred_to_gt >= 0
  key_inst = key_ids[jnp.maximum(key_pred_to_gt, 0)]
  ref_inst = ref_ids[jnp.maximum(ref_pred_to_gt, 0)]
  valid = key_pos[:, None] & ref_pos[None, :]
  targets = valid & (key_inst[:, None] == ref_inst[None, :])
  if ref_negative is not None:
    valid |= key_pos[:, None] & ref_negative[None, :]
  return targets, valid


def _normalize(x: jax.Array) -> jax.Array:
  """x / max(|x|, eps) along the last axis (NaN-free gradient at 0)."""
  sq = jnp.sum(x * x, axis=-1, keepdims=True)
  return x * jax.lax.rsqrt(jnp.maximum(sq, NORMALIZE_EPS**2))


def tracking_losses(key_embeddings: jax.Array, ref_embeddings: jax.Array,
                    key_pred_to_gt: jax.Array, ref_pred_to_gt: jax.Array,
                    key_ids: jax.Array, ref_ids: jax.Array, *,
                    pos_margin: float, neg_margin: float,
                    neg_pos_ub: int, ref_negatives: Optional[jax.Array] = None
                    ) -> Tuple[jax.Array, jax.Array]:
  """Batch-mean (loss_track, loss_track_aux), both unweighted.

  Args:
    key_embeddings: [B, P, E] key-frame embeddings (after linking).
    ref_embeddings: [B, P, E] reference-frame embeddings.
    key_pred_to_gt, ref_pred_to_gt: [B, P] final-stage post-assignment.
    key_ids, ref_ids: [B, M] GT instance ids.
    pos_margin, neg_margin, neg_pos_ub: L2Loss settings.
    ref_negatives: [B, P] bool sampled reference negatives (QDTrack
      sampling), or None.
  """
  if ref_negatives is None:
    ref_negatives = jnp.zeros(ref_pred_to_gt.shape, bool)

  def one(ke, re, ka, ra, ki, ri, rn):
    targets, valid = track_pair_targets(ka, ra, ki, ri, rn)
    ke = ke.astype(jnp.float32)
    re = re.astype(jnp.float32)
    dists = ke @ re.T
    cos = _normalize(ke) @ _normalize(re).T
    return (multi_pos_cross_entropy(dists, targets, valid),
            l2_similarity_loss(cos, targets, valid, pos_margin=pos_margin,
                               neg_margin=neg_margin, neg_pos_ub=neg_pos_ub))

  track, aux = jax.vmap(one)(key_embeddings, ref_embeddings, key_pred_to_gt,
                             ref_pred_to_gt, key_ids, ref_ids, ref_negatives)
  return jnp.mean(track), jnp.mean(aux)
