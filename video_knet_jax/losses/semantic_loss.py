"""Semantic K-Net losses (video_knet_extensions.md 4.2-4.3).

Cross-entropy on the base head's logits and on every update stage's logits,
plus the FCN auxiliary head (weight 0.4); logits are bilinearly resized
(align_corners=False) to the label size first, and the mean runs over all
pixels, ignored ones counting 0 (mmseg CrossEntropyLoss, avg_non_ignore=False).
On a training clip the same losses apply to the key and the reference frame.
"""
from typing import Dict

import jax
import jax.numpy as jnp

from video_knet_jax.models import semantic_knet


def cross_entropy(logits: jnp.ndarray, labels: jnp.ndarray, ignore_label: int) -> jnp.ndarray:
  """logits [B, K, h, w], labels [B, H, W] int (ignore_label skipped) -> scalar."""
  b, k = logits.shape[:2]
  size = labels.shape[1:]
  if logits.shape[2:] != size:
    logits = jax.image.resize(logits.astype(jnp.float32), (b, k, *size), "bilinear",
                              antialias=False)
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=1)     # [B, K, H, W]
  valid = labels != ignore_label
  safe = jnp.where(valid, labels, 0).astype(jnp.int32)
  picked = jnp.take_along_axis(log_probs, safe[:, None], axis=1)[:, 0]   # [B, H, W]
  return -jnp.sum(jnp.where(valid, picked, 0.0)) / labels.size


def frame_losses(outputs: Dict[str, jnp.ndarray], labels: jnp.ndarray, loss_config,
                 ignore_label: int, prefix: str = "") -> Dict[str, jnp.ndarray]:
  """One frame's weighted losses: base, s0..s{S-1}, aux (when the head ran)."""
  ce = lambda logits: cross_entropy(logits, labels, ignore_label)
  out = {f"{prefix}loss_base": loss_config.base * ce(outputs[semantic_knet.BASE_LOGITS])}
  stages = outputs[semantic_knet.STAGE_LOGITS]
  weights = tuple(loss_config.stage_weights)
  if len(weights) != stages.shape[0]:
    raise ValueError(f"config.loss.stage_weights has {len(weights)} entries for "
                     f"{stages.shape[0]} stages (config.model.num_stages).")
  for s, w in enumerate(weights):
    out[f"{prefix}loss_s{s}"] = w * ce(stages[s])
  if semantic_knet.AUX_LOGITS in outputs:
    out[f"{prefix}loss_aux"] = loss_config.aux * ce(outputs[semantic_knet.AUX_LOGITS])
  return out


def clip_losses(key_out, ref_out, labels: jnp.ndarray, loss_config,
                ignore_label: int) -> Dict[str, jnp.ndarray]:
  """labels [B, 2, H, W] (key, reference) -> named losses and their sum 'loss'."""
  losses = frame_losses(key_out, labels[:, 0], loss_config, ignore_label)
  ref = frame_losses(ref_out, labels[:, 1], loss_config, ignore_label, prefix="ref_")
  losses.update({k: loss_config.reference * v for k, v in ref.items()})
  losses["loss"] = sum(losses.values())
  return losses
