"""Training Video K-Net: state, the jitted sharded step, and the loop.

Read top to bottom: (1) state, (2) step, (3) loop. The same step runs on one
CPU and on a pod: the batch is split over the mesh's 'data' axis, parameters
and optimizer state are replicated, and `jax.jit` inserts the collectives.
"""
import functools
import json
import os
import signal
import time
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from flax import traverse_util

from video_knet_jax import checkpointing
from video_knet_jax import common
from video_knet_jax import optim
from video_knet_jax import shapes
from video_knet_jax import sharding
from video_knet_jax.data import device_targets
from video_knet_jax.losses import image_loss
from video_knet_jax.losses import video_loss
from video_knet_jax.models import backbones
from video_knet_jax.models import video_knet


# =============================================================================
# (1) State.
# =============================================================================
@flax.struct.dataclass
class TrainState:
  step: jax.Array          # [] int32, number of optimizer steps taken.
  params: Any
  batch_stats: Any         # frozen (norm_eval) or SyncBN statistics.
  opt_state: Any


def dummy_clip(config: ml_collections.ConfigDict, batch_size: int = 1
               ) -> jax.Array:
  """An all-zero clip [B, T, H, W, 3] of the training crop size."""
  height, width = shapes.round_up(config.data.crop_size, config.data.size_divisor)
  frames = 1 + config.data.num_refs
  return jnp.zeros((batch_size, frames, height, width, 3), jnp.float32)


def init_variables(model, config, rng) -> dict:
  """Model variables; `clip_forward` traces the linking path too (an image
  K-Net, `config.model.temporal.enabled=False`, is traced on one frame)."""
  if not video_knet.is_temporal(config.model):
    variables = model.init(rng, dummy_clip(config)[:, 0])
  else:
    variables = model.init(rng, dummy_clip(config),
                           method=video_knet.VideoKNet.clip_forward)
  return {"params": variables["params"],
          "batch_stats": variables.get("batch_stats", {})}


def frozen_filter(config) -> Callable[[tuple[str, ...]], bool]:
  return backbones.frozen_param_filter(config)


def create_train_state(config, model, mesh, rng
                       ) -> tuple[TrainState, optax.GradientTransformation, Any]:
  """Initialises replicated state on the mesh (no host round trip)."""
  abstract_vars = jax.eval_shape(
      functools.partial(init_variables, model, config), rng)
  tx = optim.make_optimizer(config, abstract_vars["params"],
                            frozen_filter(config))

  def init_state(rng):
    variables = init_variables(model, config, rng)
    return TrainState(step=jnp.zeros((), jnp.int32),
                      params=variables["params"],
                      batch_stats=variables["batch_stats"],
                      opt_state=tx.init(variables["params"]))

  abstract_state = jax.eval_shape(init_state, rng)
  state_sharding = jax.tree.map(lambda _: sharding.replicated(mesh),
                                abstract_state)
  state = jax.jit(init_state, out_shardings=state_sharding)(rng)
  return state, tx, state_sharding


def merge_init_from(state: TrainState, loaded: dict, *, strict: bool
                    ) -> tuple[TrainState, dict]:
  """Copies matching leaves of converted weights into the state's variables.

  Returns the new state and a report of missing / unexpected / mismatched
  paths (image K-Net -> Video K-Net leaves the linking layers at init).
  """
  report = {"loaded": [], "missing": [], "unexpected": [], "mismatched": []}
  merged = {}
  for collection in ("params", "batch_stats"):
    current = traverse_util.flatten_dict(
        flax.core.unfreeze(getattr(state, collection)), sep="/")
    incoming = traverse_util.flatten_dict(
        flax.core.unfreeze(loaded.get(collection, {})), sep="/")
    out = {}
    for path, value in current.items():
      if path not in incoming:
        report["missing"].append(f"{collection}/{path}")
        out[path] = value
      elif tuple(incoming[path].shape) != tuple(value.shape):
        report["mismatched"].append(
            f"{collection}/{path}: {tuple(incoming[path].shape)} vs "
            f"{tuple(value.shape)}")
        out[path] = value
      else:
        report["loaded"].append(f"{collection}/{path}")
        out[path] = jax.device_put(
            jnp.asarray(incoming[path], value.dtype), value.sharding)
    report["unexpected"] += [f"{collection}/{p}" for p in incoming
                             if p not in current]
    merged[collection] = traverse_util.unflatten_dict(out, sep="/")
  if strict and (report["missing"] or report["unexpected"]
                 or report["mismatched"]):
    raise ValueError("config.init_from.strict: checkpoint does not match the "
                     f"model: {json.dumps({k: v[:10] for k, v in report.items() if k != 'loaded'})}")
  return state.replace(params=merged["params"],
                       batch_stats=merged["batch_stats"]), report


# =============================================================================
# (2) The train step.
# =============================================================================
def make_train_step(config, model, tx) -> Callable:
  """Returns `step(state, batch) -> (state, measurements)` (not yet jitted)."""
  train_bn = not config.model.backbone.get("norm_eval", True)  # Swin: LayerNorm only.
  temporal = video_knet.is_temporal(config.model)
  target_params = device_targets.target_params(config)

  def loss_fn(params, batch_stats, batch, rng):
    # Compact label maps (config.data.targets_on_device) -> padded targets.
    batch = device_targets.complete_batch(batch, target_params)
    variables = {"params": params, "batch_stats": batch_stats}
    rngs = {"dropout": rng}   # Swin drop path (stochastic depth).
    # The image K-Net sees frame 0 of single-frame clips (num_refs = 0).
    images = batch[common.IMAGE] if temporal else batch[common.IMAGE][:, 0]
    method = video_knet.VideoKNet.clip_forward if temporal else None
    extra = video_knet.clip_inputs(config, batch)   # GT masks of a mask embedding.
    if train_bn:
      frame_outputs, updates = model.apply(
          variables, images, train=True, rngs=rngs, method=method,
          mutable=["batch_stats"], **extra)
      new_stats = updates["batch_stats"]
    else:
      frame_outputs = model.apply(variables, images, train=True, rngs=rngs,
                                  method=method, **extra)
      new_stats = batch_stats
    if temporal:
      loss, parts = video_loss.video_knet_loss(frame_outputs, batch, config)
    else:
      loss, parts = image_loss.image_knet_loss(frame_outputs, batch, config)
    return loss, (parts, new_stats)

  schedule = optim.learning_rate_schedule(config)

  def train_step(state: TrainState, batch: dict):
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    rng = jax.random.fold_in(jax.random.key(config.seed), state.step)
    (loss, (parts, new_stats)), grads = grad_fn(state.params,
                                                state.batch_stats, batch, rng)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    measurements = dict(parts)
    measurements[common.LOSS_TOTAL] = loss
    measurements["grad_norm"] = optax.global_norm(
        _mask_frozen(grads, config))
    measurements["param_norm"] = optax.global_norm(params)
    measurements["learning_rate"] = schedule(state.step)
    new_state = state.replace(step=state.step + 1, params=params,
                              batch_stats=new_stats, opt_state=opt_state)
    if config.train.get("max_skipped_steps", 0) > 0:
      new_state, measurements["skipped"] = _keep_state_if_nonfinite(
          state, new_state, loss, grads)
    return new_state, measurements

  return train_step


def _keep_state_if_nonfinite(state, new_state, loss, grads):
  """A non-finite loss or gradient leaves params, statistics and optimizer
  state as they were (only `step` advances); returns (state, skipped 0/1)."""
  finite = jnp.isfinite(loss) & jnp.isfinite(optax.global_norm(grads))
  kept = jax.tree.map(lambda new, old: jnp.where(finite, new, old),
                      (new_state.params, new_state.batch_stats,
                       new_state.opt_state),
                      (state.params, state.batch_stats, state.opt_state))
  return new_state.replace(params=kept[0], batch_stats=kept[1],
                           opt_state=kept[2]), 1 - finite.astype(jnp.int32)


def _mask_frozen(grads, config):
  is_frozen = frozen_filter(config)
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


# =============================================================================
# (3) The loop.
# =============================================================================
class Preemption:
  """Turns SIGTERM into a flag the loop checks once per step (also used by
  semantic_train_lib)."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self):
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # Not the main thread (e.g. inside a test runner).
      self._previous = None
    return self

  def _handle(self, signum, frame):
    del signum, frame
    logging.warning("SIGTERM received: saving a checkpoint and exiting.")
    self.requested = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def _format_eta(seconds: float) -> str:
  seconds = int(max(0, seconds))
  return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       *, evaluate_fn: Callable | None = None) -> dict:
  """Trains (resuming from `workdir`) and evaluates periodically.

  `evaluate_fn(config, state, workdir, step) -> metrics` runs every
  `config.train.eval_every_steps` and at the end; never if that is 0 (when
  `evaluate.py` scores the checkpoint afterwards anyway).
  Returns the last logged measurements (and eval metrics, if any).
  """
  from clu import metric_writers  # TensorFlow import; keep it out of tests' path.
  from video_knet_jax.data import input_pipeline
  from video_knet_jax.data import prepare

  eval_every = int(config.train.eval_every_steps)
  if eval_every < 0:
    raise ValueError(f"config.train.eval_every_steps={eval_every} must be >= 0 "
                     "(0: no evaluation during training).")
  os.makedirs(workdir, exist_ok=True)
  mesh = sharding.make_mesh(config.mesh)
  sharding.check_batch_size(config.train.batch_size, mesh)
  prepare.ensure_dataset(config)
  num_steps = optim.total_steps(config)

  # ------------------------------------------------------------ state
  model = video_knet.build_model(config)
  rng = jax.random.key(config.seed)
  state, tx, state_sharding = create_train_state(config, model, mesh, rng)
  checkpointer = checkpointing.TrainCheckpointer(
      workdir, save_every_steps=config.train.checkpoint_every_steps,
      keep=config.train.keep_checkpoints)
  abstract = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
      state)
  # The newest checkpoint that reads back whole (torn ones are set aside).
  restored = checkpointer.restore_latest_intact(abstract)
  skipped_before = 0
  if restored is not None:
    state, skipped_before = restored[0], int(restored[1].get("skipped_steps", 0))
    logging.info("Resumed from %s at step %d.", checkpointer.directory,
                 int(state.step))
  elif config.init_from.checkpoint:
    loaded = checkpointing.load_variables_or_workdir(config.init_from.checkpoint)
    state, report = merge_init_from(state, loaded,
                                    strict=config.init_from.strict)
    logging.info("init_from %s: %d loaded, %d left at init, %d unexpected, "
                 "%d mismatched.", config.init_from.checkpoint,
                 len(report["loaded"]), len(report["missing"]),
                 len(report["unexpected"]), len(report["mismatched"]))
  start_step = int(state.step)

  writer = metric_writers.create_default_writer(
      workdir, just_logging=jax.process_index() > 0)
  if start_step == 0:
    writer.write_hparams({k: v for k, v in traverse_util.flatten_dict(
        config.to_dict(), sep=".").items()
                          if isinstance(v, (int, float, str, bool))})

  step_fn = jit_train_step(make_train_step(config, model, tx),
                           state_sharding, mesh)
  batches = input_pipeline.make_train_iterator(config, mesh,
                                               start_step=start_step)

  # ------------------------------------------------------------ loop
  finite_check = _FiniteCheck(int(config.train.get("max_skipped_steps", 0)),
                              skipped=skipped_before)
  last = {}
  # Measurements stay on device until a step that logs, saves or evaluates;
  # then they are fetched in one transfer and checked in order, so a
  # non-finite step is named (and stops the run) before a checkpoint or an
  # evaluation sees its state, without a host round trip every step.
  pending = []
  window_start, window_steps = time.time(), 0
  logging.info("Training steps %d -> %d (%d devices).", start_step,
               num_steps, jax.device_count())
  with Preemption() as preemption:
    step = start_step
    while step < num_steps:
      with jax.transfer_guard_device_to_host("disallow"):  # no implicit fetch.
        batch = next(batches)
        state, measurements = step_fn(state, batch)
      if pending:   # the host stays one step ahead of the device, not more.
        jax.block_until_ready(pending[-1][1])
      step += 1
      window_steps += 1
      pending.append((step, measurements))

      log_now = step % config.train.log_every_steps == 0 or step == num_steps
      preempted = (preemption.requested
                   or checkpointer.reached_preemption(step))
      save_now = preempted or step == num_steps or checkpointer.is_due(step)
      eval_now = evaluate_fn is not None and eval_every > 0 and (
          step % eval_every == 0 or step == num_steps)
      if log_now or save_now or eval_now:
        fetched = fetch_measurements(pending)
        for checked_step, values in fetched:
          finite_check(checked_step, values)
        pending = []

      if log_now:
        values = {k: float(v) for k, v in fetched[-1][1].items()}
        values["skipped_steps"] = finite_check.skipped
        elapsed = time.time() - window_start
        steps_per_s = window_steps / max(elapsed, 1e-9)
        values["steps_per_sec"] = steps_per_s
        values["clips_per_sec"] = steps_per_s * config.train.batch_size
        writer.write_scalars(step, values)
        logging.info(
            "step %d/%d  loss %.4f  lr %.2e  grad_norm %.3f  %.2f steps/s  "
            "ETA %s", step, num_steps, values[common.LOSS_TOTAL],
            values["learning_rate"], values["grad_norm"], steps_per_s,
            _format_eta((num_steps - step) / max(steps_per_s, 1e-9)))
        last = values
        window_start, window_steps = time.time(), 0

      checkpointer.save(step, state,
                        meta={"step": step, "skipped_steps": finite_check.skipped},
                        force=preempted or step == num_steps)
      if preempted:
        checkpointer.close()
        writer.flush()
        logging.warning("Stopped at step %d after preemption; rerun the same "
                        "command to resume.", step)
        return last

      if eval_now:
        eval_metrics = evaluate_fn(config, state, workdir, step)
        writer.write_scalars(step, {f"eval/{k}": v for k, v in
                                    eval_metrics.items()
                                    if isinstance(v, (int, float))})
        last.update({f"eval/{k}": v for k, v in eval_metrics.items()})

  checkpointer.close()
  writer.flush()
  logging.info("Training done: step %d saved in %s.", step,
               checkpointer.directory)
  return last


def fetch_measurements(pending: list) -> list:
  """[(step, device measurements)] -> the same with numpy values, one transfer."""
  steps = [step for step, _ in pending]
  return list(zip(steps, jax.device_get([m for _, m in pending])))


def _check_finite(step: int, measurements: dict) -> None:
  loss = float(measurements[common.LOSS_TOTAL])
  grad_norm = float(measurements.get("grad_norm", 0.0))
  if not (np.isfinite(loss) and np.isfinite(grad_norm)):
    parts = {k: float(v) for k, v in jax.device_get(measurements).items()}
    bad = sorted(k for k, v in parts.items() if not np.isfinite(v))
    raise FloatingPointError(
        f"Loss is {loss} at step {step} (non-finite parts: {bad}). Lower "
        "config.optim.lr or check the input data; "
        "config.train.max_skipped_steps=N skips up to N such steps.")


class _FiniteCheck:
  """Stops on a non-finite step, or counts and logs up to `max_skipped`
  steps whose update the train step already skipped."""

  def __init__(self, max_skipped: int, skipped: int = 0):
    self.max_skipped = max_skipped
    self.skipped = skipped    # carried over a resume in the checkpoint's meta.

  def __call__(self, step: int, measurements: dict) -> None:
    if self.max_skipped <= 0 or not int(measurements["skipped"]):
      _check_finite(step, measurements)
      return
    self.skipped += 1
    parts = {k: float(v) for k, v in jax.device_get(measurements).items()}
    bad = sorted(k for k, v in parts.items() if not np.isfinite(v))
    if self.skipped > self.max_skipped:
      raise FloatingPointError(
          f"Non-finite step {step} (non-finite parts: {bad}) is skip number "
          f"{self.skipped}, over config.train.max_skipped_steps="
          f"{self.max_skipped}. Lower config.optim.lr or check the input data.")
    logging.warning("Step %d skipped (%d of at most %d): non-finite %s.", step,
                    self.skipped, self.max_skipped, bad)
