"""Mask losses of the recipe: BCE-with-logits and mmdet's DiceLoss.

Both are averaged over the positive masks of one image (the original runs one
image per GPU and DDP averages over GPUs, so per-image means followed by a
batch mean reproduce it); an image without positives contributes 0, like the
original's `mask_pred.sum() * 0`.
"""
import jax
import jax.numpy as jnp

# mmdet DiceLoss eps, added to each squared sum of the denominator.
DICE_LOSS_EPS = 1e-3


def sigmoid_bce(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """Element-wise BCE-with-logits on soft targets (same shape as logits)."""
  x = logits.astype(jnp.float32)
  t = targets.astype(jnp.float32)
  return jnp.maximum(x, 0) - x * t + jnp.log1p(jnp.exp(-jnp.abs(x)))


def dice_loss(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """mmdet DiceLoss per mask: [..., H, W] -> [...].

  1 - 2 sum(p t) / (sum(p^2) + eps + sum(t^2) + eps), p = sigmoid(logits).
  """
  p = jax.nn.sigmoid(logits.astype(jnp.float32))
  t = targets.astype(jnp.float32)
  num = 2 * jnp.sum(p * t, axis=(-2, -1))
  den = (jnp.sum(p * p, axis=(-2, -1)) + DICE_LOSS_EPS) + (
      jnp.sum(t * t, axis=(-2, -1)) + DICE_LOSS_EPS)
  return 1 - num / den


def bce_and_dice(logits: jax.Array, targets: jax.Array
                 ) -> tuple[jax.Array, jax.Array]:
  """(mean `sigmoid_bce`, `dice_loss`) per mask in one pass: [..., H, W] -> [...].

  One exp(-|x|) gives both the sigmoid and the softplus, so each pixel is
  read once for both losses.
  """
  x = logits.astype(jnp.float32)
  t = targets.astype(jnp.float32)
  e = jnp.exp(-jnp.abs(x))
  p = jnp.where(x >= 0, 1.0, e) / (1.0 + e)                  # sigmoid(x)
  bce = jnp.mean(jnp.maximum(x, 0) - x * t + jnp.log1p(e), axis=(-2, -1))
  num = 2 * jnp.sum(p * t, axis=(-2, -1))
  den = (jnp.sum(p * p, axis=(-2, -1)) + DICE_LOSS_EPS) + (
      jnp.sum(t * t, axis=(-2, -1)) + DICE_LOSS_EPS)
  return bce, 1 - num / den


def positive_mean(per_mask: jax.Array, positive: jax.Array) -> jax.Array:
  """Per-image mean of [B, N] per-mask losses over the positive masks -> [B]."""
  total = jnp.sum(jnp.where(positive, per_mask, 0.0), axis=-1)
  num = _num_positive(positive)
  return jnp.where(num > 0, total / jnp.maximum(num, 1.0), 0.0)


def _num_positive(positive: jax.Array) -> jax.Array:
  return jnp.sum(positive.astype(jnp.float32), axis=-1)


def mask_bce_loss(logits: jax.Array, targets: jax.Array,
                  positive: jax.Array) -> jax.Array:
  """Per-image mean BCE over all pixels of the positive masks.

  Args:
    logits: [B, N, H, W] mask logits.
    targets: [B, N, H, W] soft targets (anything on negative rows).
    positive: [B, N] bool.

  Returns:
    [B] loss, 0 for an image without positives.
  """
  per_mask = jnp.mean(sigmoid_bce(logits, targets), axis=(-2, -1))  # [B, N]
  total = jnp.sum(jnp.where(positive, per_mask, 0.0), axis=-1)
  num = _num_positive(positive)
  return jnp.where(num > 0, total / jnp.maximum(num, 1.0), 0.0)


def mask_dice_loss(logits: jax.Array, targets: jax.Array,
                   positive: jax.Array) -> jax.Array:
  """Per-image mean DiceLoss over the positive masks: [B, N, H, W] -> [B]."""
  per_mask = dice_loss(logits, targets)  # [B, N]
  total = jnp.sum(jnp.where(positive, per_mask, 0.0), axis=-1)
  num = _num_positive(positive)
  return jnp.where(num > 0, total / jnp.maximum(num, 1.0), 0.0)
