"""The train step of every task: the task's loss, the optimizer, measurements.

`make_train_step` returns `step(state, batch) -> (state, measurements)`; the
measurements are the loss, its named parts (the task's), grad_norm (frozen
parameters excluded), param_norm and learning_rate, and `skipped` when
`config.train.max_skipped_steps > 0` (see `keep_state_if_nonfinite`).
Dropout keys are the seed folded with the number of steps taken, so a
resumed run draws the keys an unbroken one would.
"""
import types
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import traverse_util

from video_knet_jax import common
from video_knet_jax import sharding
from video_knet_jax import tasks
from video_knet_jax.train import state as state_lib


def make_train_step(config, model, tx, task=None) -> Callable:
  """Returns `step(state, batch) -> (state, measurements)` (not yet jitted)."""
  task = task or tasks.get(config)
  loss_fn = task.loss_fn(config, model)
  schedule = task.learning_rate_schedule(config)
  is_frozen = task.frozen_filter(config)
  skip_nonfinite = config.train.get("max_skipped_steps", 0) > 0

  def train_step(state, batch: dict):
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    rng = jax.random.fold_in(jax.random.key(config.seed), state.step)
    (loss, (parts, new_stats)), grads = grad_fn(state.params,
                                                state.batch_stats, batch, rng)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    measurements = dict(parts)
    measurements[common.LOSS_TOTAL] = loss
    measurements["grad_norm"] = optax.global_norm(mask_frozen(grads, is_frozen))
    measurements["param_norm"] = optax.global_norm(params)
    measurements["learning_rate"] = schedule(state.step)
    new_state = state.replace(step=state.step + 1, params=params,
                              batch_stats=new_stats, opt_state=opt_state)
    if skip_nonfinite:
      new_state, measurements["skipped"] = keep_state_if_nonfinite(
          state, new_state, loss, grads)
    return new_state, measurements

  return train_step


def keep_state_if_nonfinite(state, new_state, loss, grads):
  """A non-finite loss or gradient leaves params, statistics and optimizer
  state as they were (only `step` advances); returns (state, skipped 0/1)."""
  finite = jnp.isfinite(loss) & jnp.isfinite(optax.global_norm(grads))
  kept = jax.tree.map(lambda new, old: jnp.where(finite, new, old),
                      (new_state.params, new_state.batch_stats,
                       new_state.opt_state),
                      (state.params, state.batch_stats, state.opt_state))
  return new_state.replace(params=kept[0], batch_stats=kept[1],
                           opt_state=kept[2]), 1 - finite.astype(jnp.int32)


def mask_frozen(grads, is_frozen: Callable[[tuple[str, ...]], bool]):
  """Gradients with the frozen parameters' zeroed (for grad_norm)."""
  flat = traverse_util.flatten_dict(grads)
  return traverse_util.unflatten_dict(
      {k: (jnp.zeros_like(v) if is_frozen(k) else v) for k, v in flat.items()})


def jit_train_step(train_step, state_sharding, mesh):
  """jit with explicit shardings; the old state is donated."""
  return jax.jit(
      train_step,
      in_shardings=(state_sharding, sharding.batch_sharding(mesh)),
      out_shardings=(state_sharding, sharding.replicated(mesh)),
      donate_argnums=(0,))


class BuiltStep(NamedTuple):
  task: types.ModuleType
  model: Any
  state: state_lib.StateSpec   # init, optimizer, sharding, shapes.
  step: Callable               # jitted (state, batch) -> (state, measurements).


def build_train_step(config, mesh, task=None) -> BuiltStep:
  """The config's task, model, state spec and jitted train step on `mesh`,
  as the loop builds them, with nothing initialised (benchmarks, lowering)."""
  task = task or tasks.get(config)
  model = task.build_model(config)
  spec = state_lib.train_state_spec(config, model, mesh, task)
  step = jit_train_step(make_train_step(config, model, spec.tx, task),
                        spec.sharding, mesh)
  return BuiltStep(task=task, model=model, state=spec, step=step)
