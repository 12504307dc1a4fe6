"""Optimizer and learning-rate schedule of the recipe (section 1.6).

AdamW (lr 1e-4, weight decay 0.05 on every parameter, as mmcv does), the
backbone at lr x0.25, frozen backbone stages untouched, global-norm clipping
at 1.0, and mmcv's linear warmup followed by step decay (the paper's recipe)
or, with `config.optim.policy = 'cosine'`, by mmcv's CosineAnnealing.
"""
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import traverse_util

FROZEN, BACKBONE, DEFAULT = "frozen", "backbone", "default"


def steps_per_epoch(config: ml_collections.ConfigDict) -> int:
  """Steps in one epoch: frames x dataset repeats / global batch."""
  if config.train.num_train_frames <= 0:
    raise ValueError(
        "config.train.num_train_frames must be the train split's frame count "
        "to turn epochs into steps (or set config.train.num_steps and "
        "config.optim.decay_steps).")
  frames = config.train.num_train_frames * config.train.dataset_repeats
  return max(1, frames // config.train.batch_size)


def total_steps(config: ml_collections.ConfigDict) -> int:
  if config.train.num_steps > 0:
    return int(config.train.num_steps)
  return steps_per_epoch(config) * config.train.num_epochs


def decay_boundaries(config: ml_collections.ConfigDict) -> tuple[int, ...]:
  """Step boundaries of the x`decay_gamma` drops (from epochs or steps)."""
  if config.optim.decay_epochs:
    per_epoch = steps_per_epoch(config)
    return tuple(int(e) * per_epoch for e in config.optim.decay_epochs)
  return tuple(int(s) for s in config.optim.decay_steps)


POLICIES = ("step", "cosine")


def regular_schedule(config: ml_collections.ConfigDict) -> Callable[[jax.Array], jax.Array]:
  """The rate before warmup scaling, by `config.optim.policy`.

  'step': x`decay_gamma` at each of `decay_boundaries`. 'cosine': from lr down
  to lr x `min_lr_ratio` over all `total_steps` (mmcv CosineAnnealing by
  iteration, warmup included in the span).
  """
  base = config.optim.lr
  policy = config.optim.get("policy", "step")
  if policy == "step":
    gamma = config.optim.decay_gamma
    boundaries = jnp.asarray(decay_boundaries(config) or (2**31 - 1,))
    return lambda step: base * gamma ** jnp.sum(jnp.asarray(step) >= boundaries)
  if policy == "cosine":
    return optax.cosine_decay_schedule(
        init_value=base, decay_steps=total_steps(config),
        alpha=float(config.optim.get("min_lr_ratio", 0.0)))
  raise ValueError(f"config.optim.policy={policy!r}; expected one of {POLICIES}.")


def learning_rate_schedule(config: ml_collections.ConfigDict
                           ) -> Callable[[jax.Array], jax.Array]:
  """`regular_schedule` with mmcv's linear warmup from `warmup_ratio`.

  During warmup mmcv scales the regular (already decayed) rate by
  `1 - (1 - t / warmup) * (1 - ratio)`.
  """
  warmup = int(config.optim.warmup_steps)
  ratio = config.optim.warmup_ratio
  regular_at = regular_schedule(config)

  def schedule(step):
    step = jnp.asarray(step)
    regular = regular_at(step)
    if warmup <= 0:
      return regular
    k = (1.0 - step / warmup) * (1.0 - ratio)
    return jnp.where(step < warmup, regular * (1.0 - k), regular)

  return schedule


def param_labels(params, is_frozen: Callable[[tuple[str, ...]], bool]):
  """Labels every parameter FROZEN, BACKBONE or DEFAULT by its path."""
  flat = traverse_util.flatten_dict(params)
  labels = {}
  for path in flat:
    if is_frozen(path):
      labels[path] = FROZEN
    elif path[0] == "backbone":
      labels[path] = BACKBONE
    else:
      labels[path] = DEFAULT
  return traverse_util.unflatten_dict(labels)


def make_optimizer(config: ml_collections.ConfigDict, params,
                   is_frozen: Callable[[tuple[str, ...]], bool]
                   ) -> optax.GradientTransformation:
  """Clip (over trainable grads) -> AdamW per group; frozen params stay put."""
  schedule = learning_rate_schedule(config)
  labels = param_labels(params, is_frozen)
  frozen_mask = jax.tree.map(lambda label: label == FROZEN, labels)

  def adamw(lr_mult):
    return optax.adamw(learning_rate=lambda s: schedule(s) * lr_mult,
                       b1=0.9, b2=0.999, eps=1e-8,
                       weight_decay=config.optim.weight_decay)

  return optax.chain(
      # Frozen grads are zeroed first so they do not count in the clip norm,
      # as in PyTorch where they have requires_grad=False.
      optax.masked(optax.set_to_zero(), frozen_mask),
      optax.clip_by_global_norm(config.optim.clip_norm),
      optax.multi_transform(
          {FROZEN: optax.set_to_zero(),
           BACKBONE: adamw(config.optim.backbone_lr_mult),
           DEFAULT: adamw(1.0)},
          labels))
