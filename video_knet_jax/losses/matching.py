"""Hungarian matching of thing proposals to padded GT masks (section 4.1).

Costs follow the recipe's `MaskHungarianAssigner`:
  * FocalLossCost at the GT class column (only when class logits are given),
  * DiceCost with sigmoid clamped to [0.001, 1] and eps 1e-3 on each sum,
  * MaskCost with sigmoid clamped to [0.01, 1], averaged over pixels.
The assignment is `optax.assignment.hungarian_algorithm` per image (vmap).
Everything is computed on `stop_gradient` inputs: the matching is a target,
not part of the graph (and reverse-mode through its while_loop is undefined).
"""
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

# Numerical constants of the original cost functions (not tunable recipe knobs).
DICE_COST_CLAMP = 1e-3
DICE_COST_EPS = 1e-3
MASK_COST_CLAMP = 1e-2
FOCAL_COST_EPS = 1e-12
# Valid costs are clipped to [-COST_CLIP, COST_CLIP] (non-finite -> COST_CLIP);
# padded GT columns cost PAD_COST, far above any valid assignment's total.
COST_CLIP = 1e3
PAD_COST = 1e5


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


def dice_cost(mask_logits: jax.Array, gt_masks: jax.Array,
              clamp: float = DICE_COST_CLAMP) -> jax.Array:
  """DiceCost (unweighted): [P, H, W] logits, [M, H, W] soft masks -> [P, M].

  `clamp` = 0 gives knet_vis's unclamped sigmoid.
  """
  p = jnp.clip(jax.nn.sigmoid(mask_logits.astype(jnp.float32)), clamp, 1.0)
  p = p.reshape(p.shape[0], -1)
  t = gt_masks.reshape(gt_masks.shape[0], -1).astype(jnp.float32)
  num = 2 * jnp.einsum("pk,mk->pm", p, t)
  den = (jnp.sum(p * p, -1) + DICE_COST_EPS)[:, None] + (
      jnp.sum(t * t, -1) + DICE_COST_EPS)[None, :]
  return -num / den


def mask_cost(mask_logits: jax.Array, gt_masks: jax.Array,
              clamp: float = MASK_COST_CLAMP) -> jax.Array:
  """MaskCost (unweighted): minus mean agreement, [P,H,W], [M,H,W] -> [P,M]."""
  p = jnp.clip(jax.nn.sigmoid(mask_logits.astype(jnp.float32)), clamp, 1.0)
  p = p.reshape(p.shape[0], -1)
  t = gt_masks.reshape(gt_masks.shape[0], -1).astype(jnp.float32)
  agree = jnp.einsum("pk,mk->pm", p, t) + jnp.einsum("pk,mk->pm", 1 - p, 1 - t)
  return -agree / p.shape[-1]


def match_cost(mask_logits, cls_logits, gt_masks, gt_labels, gt_valid, *,
               cls_weight: float, dice_weight: float, mask_weight: float,
               alpha: float, gamma: float, clamp: bool = True) -> jax.Array:
  """Total sanitised cost of one image: [P, M]; padded columns cost PAD_COST.

  clamp=False: knet_vis's costs (sigmoid not clamped, extensions 3.4).
  """
  cost = mask_weight * mask_cost(mask_logits, gt_masks,
                                 MASK_COST_CLAMP if clamp else 0.0)
  cost += dice_weight * dice_cost(mask_logits, gt_masks,
                                  DICE_COST_CLAMP if clamp else 0.0)
  if cls_logits is not None and cls_weight != 0:
    cost += cls_weight * focal_cost(cls_logits, gt_labels, alpha=alpha,
                                    gamma=gamma)
  cost = jnp.where(jnp.isfinite(cost), jnp.clip(cost, -COST_CLIP, COST_CLIP),
                   COST_CLIP)
  return jnp.where(gt_valid[None, :], cost, PAD_COST)


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
                     gamma: float, clamp: bool = True) -> jax.Array:
  """Detached, sanitised costs of a batch.

  Args:
    mask_logits: [B, P, H, W] proposal mask logits at the target resolution.
    cls_logits: [B, P, K] thing-class logits, or None (no class cost: rpn and
      stage 0).
    gt_masks: [B, M, H, W] soft GT masks (padded).
    gt_labels: [B, M] int GT classes (0..K-1).
    gt_valid: [B, M] bool, False for padding rows.
    cls_weight, dice_weight, mask_weight: cost weights (config.loss.match_*).
    alpha, gamma: focal cost parameters.
    clamp: clamp the sigmoid in the mask costs (False: knet_vis).

  Returns:
    [B, P, M] cost without gradient.
  """
  if mask_logits.shape[-2:] != gt_masks.shape[-2:]:
    raise ValueError(f"matching: prediction size {mask_logits.shape[-2:]} != "
                     f"GT size {gt_masks.shape[-2:]}.")
  kw = dict(cls_weight=cls_weight, dice_weight=dice_weight,
            mask_weight=mask_weight, alpha=alpha, gamma=gamma, clamp=clamp)
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
