"""Hungarian matching of thing proposals to padded GT masks (section 4.1).

Costs follow the recipe's `MaskHungarianAssigner`:
  * FocalLossCost at the GT class column (only when class logits are given),
  * DiceCost with sigmoid clamped to [0.001, 1] and eps 1e-3 on each sum,
  * MaskCost with sigmoid clamped to [0.01, 1], averaged over pixels.
The assignment is `optax.assignment.hungarian_algorithm` per image (vmap).
Everything is computed on `stop_gradient` inputs: the matching is a target,
not part of the graph (and reverse-mode through its while_loop is undefined).
"""
from typing import NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from video_knet_jax.losses import resampling

# Numerical constants of the original cost functions (not tunable recipe knobs).
DICE_COST_CLAMP = 1e-3
DICE_COST_EPS = 1e-3
MASK_COST_CLAMP = 1e-2
FOCAL_COST_EPS = 1e-12
# Valid costs are clipped to [-COST_CLIP, COST_CLIP] (non-finite -> COST_CLIP);
# padded GT columns cost `PAD_MARGIN` more than the matrix's largest valid cost
# (`pad_columns`).
COST_CLIP = 1e3
PAD_MARGIN = 1.0


class Assignment(NamedTuple):
  """Result of matching P proposals to M padded GTs, per image."""
  pred_to_gt: jax.Array  # [B, P] int32 matched GT index, -1 = negative.
  gt_to_pred: jax.Array  # [B, M] int32 matched proposal, -1 = none/padding.


def focal_cost(cls_logits: jax.Array, gt_labels: jax.Array, *,
               alpha: float, gamma: float) -> jax.Array:
  """mmdet FocalLossCost (unweighted): [P, K] logits, [M] labels -> [P, M]."""
  p = jax.nn.sigmoid(cls_logits.astype(jnp.float32))
  neg = -jnp.log(1 - p + FOCAL_COST_EPS) * (1 - alpha) * p**gamma
  pos = -jnp.log(p + FOCAL_COST_EPS) * alpha * (1 - p)**gamma
  cost = pos - neg                                     # [P, K]
  labels = jnp.clip(gt_labels, 0, cls_logits.shape[-1] - 1)
  return jnp.take(cost, labels, axis=1)                # [P, M]


def _clamped_sigmoid_products(logits: jax.Array, targets: jax.Array,
                               mask_clamp: float, dice_clamp: float):
  """Pixel sums of one block: logits [P, K], targets [M, K] ->
  (p_d.t [P, M], p_m.t [P, M], sum p_d^2 [P], sum (1 - p_m) [P])."""
  num_preds = logits.shape[0]
  sig = jax.nn.sigmoid(logits.astype(jnp.float32))
  p_dice = jnp.clip(sig, dice_clamp, 1.0)
  p_mask = jnp.clip(sig, mask_clamp, 1.0)
  prod = jnp.einsum("pk,mk->pm", jnp.concatenate([p_dice, p_mask]), targets)
  return (prod[:num_preds], prod[num_preds:], jnp.sum(p_dice * p_dice, -1),
          jnp.sum(1 - p_mask, -1))


def _upsampled_products(low_logits: jax.Array, factor: int, targets: jax.Array,
                        mask_clamp: float, dice_clamp: float):
  """`_clamped_sigmoid_products` of `upsample_logits(low_logits, factor)`,
  computed in bands of output rows so no [P, H, W] array is ever built.

  low_logits: [P, h, w]; targets: [M, h * factor, w * factor]. The columns
  are upsampled once ([P, h, W], `resampling.upsample_last_axis_by_blocks`);
  each band of `factor * k` output rows is a fixed [factor * k, k + 2]
  blend of k + 2 of those rows (the band's rows and one neighbour each side,
  edge rows repeated: the clamp of the bilinear kernel), so a band's
  sigmoids and products stay in cache.
  """
  num_preds, h, w = low_logits.shape
  # Input rows per band: 2 (8 output rows of 100 proposals at x4, 2 MB at
  # 1248 px wide) beat 4 by 1.7x at x4 and were as fast at x2
  # (docs/BENCHMARKS.md, "Session 18").
  k = next(d for d in (2, 3, 1) if h % d == 0)
  band = factor * k
  cols = resampling.upsample_last_axis_by_blocks(low_logits, factor)  # [P, h, W]
  cols = jnp.concatenate([cols[:, :1], cols, cols[:, -1:]], axis=1)
  # Rows of band 0 read padded rows 0..k+1; every band has the same weights.
  src = (np.arange(band) + 0.5) / factor - 0.5 + 1      # in padded rows.
  low = np.floor(src).astype(int)
  blend = np.zeros((band, k + 2), np.float32)
  blend[np.arange(band), low] = 1 - (src - low)
  blend[np.arange(band), low + 1] += src - low
  num_targets = targets.shape[0]

  def one_band(sums, i):
    rows = jax.lax.dynamic_slice_in_dim(cols, i * k, k + 2, axis=1)
    logits = jnp.einsum("rj,pjv->prv", blend, rows).reshape(num_preds, -1)
    t = jax.lax.dynamic_slice_in_dim(targets, i * band, band, axis=1)
    part = _clamped_sigmoid_products(logits, t.reshape(num_targets, -1),
                                     mask_clamp, dice_clamp)
    return jax.tree.map(jnp.add, sums, part), None

  zeros = (jnp.zeros((num_preds, num_targets)),) * 2 + (
      jnp.zeros((num_preds,)),) * 2
  sums, _ = jax.lax.scan(one_band, zeros, jnp.arange(h // k))
  return sums


def mask_and_dice_costs(mask_logits: jax.Array, gt_masks: jax.Array, *,
                        mask_clamp: float = MASK_COST_CLAMP,
                        dice_clamp: float = DICE_COST_CLAMP,
                        upsample_factor: int = 1
                        ) -> Tuple[jax.Array, jax.Array]:
  """(MaskCost, DiceCost), unweighted: [P, H, W] logits, [M, H, W] soft masks.

  MaskCost = -mean(p t + (1 - p)(1 - t)), p = sigmoid clamped to
  [mask_clamp, 1]; DiceCost = -2 p.t / (p.p + eps + t.t + eps), p clamped to
  [dice_clamp, 1] (clamps 0: knet_vis's unclamped sigmoid). Both clamped
  sigmoids go through ONE product with the targets ([2P, HW] x [HW, M]), and
  sum((1 - p)(1 - t)) is taken as sum(1 - p) + p.t - sum(t) (the same sum,
  reordered) instead of a third product. With `upsample_factor` f > 1 the
  logits are [P, H/f, W/f] and p is the sigmoid of
  `resampling.upsample_logits(logits, f)`, computed band by band (see
  `_upsampled_products`). Returns two [P, M] arrays.
  """
  t = gt_masks.astype(jnp.float32)
  if upsample_factor == 1:
    dice_pt, mask_pt, p_dice_sq, one_minus_p_mask = _clamped_sigmoid_products(
        mask_logits.reshape(mask_logits.shape[0], -1),
        t.reshape(t.shape[0], -1), mask_clamp, dice_clamp)
  else:
    dice_pt, mask_pt, p_dice_sq, one_minus_p_mask = _upsampled_products(
        mask_logits, upsample_factor, t, mask_clamp, dice_clamp)
  t = t.reshape(t.shape[0], -1)
  den = (p_dice_sq + DICE_COST_EPS)[:, None] + (
      jnp.sum(t * t, -1) + DICE_COST_EPS)[None, :]
  agree = (one_minus_p_mask[:, None] + mask_pt) + (
      mask_pt - jnp.sum(t, -1)[None, :])
  return -agree / t.shape[-1], -2 * dice_pt / den


def match_cost(mask_logits, cls_logits, gt_masks, gt_labels, gt_valid, *,
               cls_weight: float, dice_weight: float, mask_weight: float,
               alpha: float, gamma: float, clamp: bool = True,
               upsample_factor: int = 1) -> jax.Array:
  """Total sanitised cost of one image: [P, M]; padded columns as `pad_columns`.

  clamp=False: knet_vis's costs (sigmoid not clamped, extensions 3.4).
  upsample_factor: see `mask_and_dice_costs`.
  """
  mask, dice = mask_and_dice_costs(
      mask_logits, gt_masks, mask_clamp=MASK_COST_CLAMP if clamp else 0.0,
      dice_clamp=DICE_COST_CLAMP if clamp else 0.0,
      upsample_factor=upsample_factor)
  cost = mask_weight * mask + dice_weight * dice
  if cls_logits is not None and cls_weight != 0:
    cost += cls_weight * focal_cost(cls_logits, gt_labels, alpha=alpha,
                                    gamma=gamma)
  cost = jnp.where(jnp.isfinite(cost), jnp.clip(cost, -COST_CLIP, COST_CLIP),
                   COST_CLIP)
  return pad_columns(cost, gt_valid)


def pad_columns(cost: jax.Array, gt_valid: jax.Array) -> jax.Array:
  """[P, M] cost with the padded columns (gt_valid False) at the largest
  valid cost + PAD_MARGIN.

  Every column is matched when P >= M, so the padded columns' constant adds
  the same to every assignment; when P < M, any constant above the valid
  costs makes the valid columns taken first. A constant near the costs keeps
  the float32 Hungarian exact: with padding at 1e5 its potentials reach
  1e5, whose float32 spacing (~0.008) hid cost differences of 2e-3 and gave
  non-optimal matchings (scipy, the original's solver, finds the optimum).
  """
  largest = jnp.max(jnp.where(gt_valid[None, :], cost, -COST_CLIP))
  return jnp.where(gt_valid[None, :], cost, largest + PAD_MARGIN)


def hungarian_assign(cost: jax.Array, gt_valid: jax.Array) -> Assignment:
  """Min-cost matching of one image's [P, M] cost; drops padded GT columns."""
  num_preds, num_gts = cost.shape
  rows, cols = optax.assignment.hungarian_algorithm(cost)  # min(P, M) pairs.
  keep = gt_valid[cols]
  pred_to_gt = jnp.full((num_preds,), -1, jnp.int32).at[rows].set(
      jnp.where(keep, cols, -1).astype(jnp.int32))
  gt_to_pred = jnp.full((num_gts,), -1, jnp.int32).at[cols].set(
      jnp.where(keep, rows, -1).astype(jnp.int32))
  return Assignment(pred_to_gt, gt_to_pred)


def batch_match_cost(mask_logits: jax.Array, cls_logits: Optional[jax.Array],
                     gt_masks: jax.Array, gt_labels: jax.Array,
                     gt_valid: jax.Array, *, cls_weight: float,
                     dice_weight: float, mask_weight: float, alpha: float,
                     gamma: float, clamp: bool = True,
                     upsample_factor: int = 1) -> jax.Array:
  """Detached, sanitised costs of a batch.

  Args:
    mask_logits: [B, P, H, W] proposal mask logits at the target resolution,
      or at 1/upsample_factor of it (upsampled inside, band by band).
    cls_logits: [B, P, K] thing-class logits, or None (no class cost: rpn and
      stage 0).
    gt_masks: [B, M, H, W] soft GT masks (padded).
    gt_labels: [B, M] int GT classes (0..K-1).
    gt_valid: [B, M] bool, False for padding rows.
    cls_weight, dice_weight, mask_weight: cost weights (config.loss.match_*).
    alpha, gamma: focal cost parameters.
    clamp: clamp the sigmoid in the mask costs (False: knet_vis).
    upsample_factor: integer factor from `mask_logits` to the GT size.

  Returns:
    [B, P, M] cost without gradient.
  """
  size = tuple(upsample_factor * d for d in mask_logits.shape[-2:])
  if size != tuple(gt_masks.shape[-2:]):
    raise ValueError(f"matching: prediction size {mask_logits.shape[-2:]} x "
                     f"{upsample_factor} != GT size {gt_masks.shape[-2:]}.")
  kw = dict(cls_weight=cls_weight, dice_weight=dice_weight,
            mask_weight=mask_weight, alpha=alpha, gamma=gamma, clamp=clamp,
            upsample_factor=upsample_factor)
  mask_logits = jax.lax.stop_gradient(mask_logits)
  if cls_logits is None:
    cost = jax.vmap(lambda m, g, l, v: match_cost(m, None, g, l, v, **kw))(
        mask_logits, gt_masks, gt_labels, gt_valid)
  else:
    cost = jax.vmap(lambda m, c, g, l, v: match_cost(m, c, g, l, v, **kw))(
        mask_logits, jax.lax.stop_gradient(cls_logits), gt_masks, gt_labels,
        gt_valid)
  return jax.lax.stop_gradient(cost)


def solve(cost: jax.Array, gt_valid: jax.Array) -> Assignment:
  """Hungarian matching of [..., P, M] costs in ONE vmapped call.

  Stacking several matchings (e.g. every stage of a frame) into one call
  compiles a single while_loop and runs them in parallel.
  gt_valid: [..., M] bool. Returns an `Assignment` with leading dims [...].
  """
  lead = cost.shape[:-2]
  flat = cost.reshape((-1,) + cost.shape[-2:])
  valid = jnp.broadcast_to(gt_valid, lead + cost.shape[-1:]).reshape(
      (-1, cost.shape[-1]))
  res = jax.vmap(hungarian_assign)(jax.lax.stop_gradient(flat), valid)
  return jax.tree.map(
      lambda x: jax.lax.stop_gradient(x.reshape(lead + x.shape[1:])), res)


def assign(mask_logits: jax.Array, cls_logits: Optional[jax.Array],
           gt_masks: jax.Array, gt_labels: jax.Array, gt_valid: jax.Array, *,
           cls_weight: float, dice_weight: float, mask_weight: float,
           alpha: float, gamma: float) -> Assignment:
  """Batched matching ([B, P, H, W] vs [B, M, H, W]; see `batch_match_cost`).

  Returns an `Assignment` ([B, P] and [B, M]) with no gradient.
  """
  cost = batch_match_cost(mask_logits, cls_logits, gt_masks, gt_labels,
                          gt_valid, cls_weight=cls_weight,
                          dice_weight=dice_weight, mask_weight=mask_weight,
                          alpha=alpha, gamma=gamma)
  return solve(cost, gt_valid)
