"""The one training loop: every task (config.task) trains through it.

  python train.py --config=configs/kitti_step.py --workdir=DIR      # panoptic
  python train.py --config=configs/vspw.py:debug --workdir=DIR      # semantic
  python train.py --config=configs/youtube_vis.py:debug --workdir=DIR  # instance

The task (video_knet_jax/tasks) supplies the model, its variables, the loss,
the optimizer and this host's training batches; everything else is here,
the same for every task: the state on the mesh (train/state.py), the jitted
sharded step (train/step.py), `init_from`, resuming from the newest intact
checkpoint (torn ones set aside), a checkpoint and a clean exit on SIGTERM,
measurements fetched only when needed and checked for non-finite values
before any checkpoint or evaluation (`max_skipped_steps`), the transfer
guard, device prefetch, TensorBoard scalars (and the first input clip as an
image), progress with ETA, and periodic evaluation written once by process 0.
"""
import os
import signal
import time
from typing import Callable

import jax
import ml_collections
import numpy as np
from absl import logging
from flax import traverse_util

from video_knet_jax import checkpointing
from video_knet_jax import common
from video_knet_jax import sharding
from video_knet_jax import tasks
from video_knet_jax.train import state as state_lib
from video_knet_jax.train import step as step_lib


class Preemption:
  """Turns SIGTERM into a flag the loop checks once per step."""

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


def _init_from(state, config):
  """`config.init_from.checkpoint` merged into a fresh state, with a report."""
  init_from = config.get("init_from") or {}
  if not init_from.get("checkpoint"):
    return state
  loaded = checkpointing.load_variables_or_workdir(init_from["checkpoint"])
  state, report = state_lib.merge_init_from(
      state, loaded, strict=bool(init_from.get("strict", False)))
  logging.info("init_from %s: %d loaded, %d left at init, %d unexpected, "
               "%d mismatched.", init_from["checkpoint"],
               len(report["loaded"]), len(report["missing"]),
               len(report["unexpected"]), len(report["mismatched"]))
  for kind in ("missing", "unexpected", "mismatched"):
    if report[kind]:
      logging.info("init_from %s (%d): %s", kind, len(report[kind]),
                   ", ".join(report[kind][:20]))
  return state


def _write_input_clip(writer, step: int, batch: dict, config) -> None:
  """The first clip of this process's first batch, its frames side by side
  as the model sees them (after augmentation), as a TensorBoard image."""
  clip = np.asarray(jax.device_get(
      batch[common.IMAGE].addressable_data(0)))[0]          # [T, H, W, 3]
  rgb = clip * np.asarray(config.data.std) + np.asarray(config.data.mean)
  strip = np.concatenate(list(np.clip(rgb, 0, 255).astype(np.uint8)), axis=1)
  writer.write_images(step, {"input/clip": strip[None]})


def train_batches(config, task, mesh, *, start_step: int):
  """Global batches of the task's clips from `start_step` on, on the mesh."""
  from video_knet_jax.data import clip_pipeline  # pylint: disable=g-import-not-at-top
  host = task.train_batches(
      config, batch_size=clip_pipeline.local_batch_size(
          config.train.batch_size, jax.process_count()),
      start_step=start_step, process_index=jax.process_index(),
      process_count=jax.process_count())
  return clip_pipeline.device_batches(
      host, mesh, ahead=int(config.data.get("device_prefetch", 1)))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       *, evaluate_fn: Callable | None = None) -> dict:
  """Trains (resuming from `workdir`) and evaluates periodically.

  `evaluate_fn(config, state, workdir, step) -> metrics` runs every
  `config.train.eval_every_steps` and at the end; never if that is 0 (when
  `evaluate.py` scores the checkpoint afterwards anyway).
  Returns the last logged measurements (and eval metrics, if any).
  """
  from clu import metric_writers  # TensorFlow import; keep it out of tests' path.
  from video_knet_jax.data import prepare  # pylint: disable=g-import-not-at-top

  task = tasks.get(config)
  eval_every = int(config.train.eval_every_steps)  # a named error if missing.
  if eval_every < 0:
    raise ValueError(f"config.train.eval_every_steps={eval_every} must be >= 0 "
                     "(0: no evaluation during training).")
  os.makedirs(workdir, exist_ok=True)
  mesh = sharding.make_mesh(config.mesh)
  sharding.check_batch_size(config.train.batch_size, mesh)
  config = task.complete_config(config, prepare.ensure_dataset(config))
  num_steps = task.total_steps(config)

  # ------------------------------------------------------------ state
  model = task.build_model(config)
  state, tx, state_sharding = state_lib.create_train_state(
      config, model, mesh, jax.random.key(config.seed), task)
  checkpointer = checkpointing.TrainCheckpointer(
      workdir, save_every_steps=config.train.checkpoint_every_steps,
      keep=config.train.get("keep_checkpoints", 3))
  # The newest checkpoint that reads back whole (torn ones are set aside).
  restored = checkpointer.restore_latest_intact(state_lib.abstract_state(state))
  skipped_before = 0
  if restored is not None:
    state, skipped_before = restored[0], int(restored[1].get("skipped_steps", 0))
    logging.info("Resumed from %s at step %d.", checkpointer.directory,
                 int(state.step))
  else:
    state = _init_from(state, config)
  start_step = int(state.step)

  writer = metric_writers.create_default_writer(
      workdir, just_logging=jax.process_index() > 0)
  if start_step == 0:
    writer.write_hparams({k: v for k, v in traverse_util.flatten_dict(
        config.to_dict(), sep=".").items()
                          if isinstance(v, (int, float, str, bool))})

  step_fn = step_lib.jit_train_step(
      step_lib.make_train_step(config, model, tx, task), state_sharding, mesh)
  batches = train_batches(config, task, mesh, start_step=start_step)

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
  logging.info("Training %s steps %d -> %d (%d devices).", task.NAME,
               start_step, num_steps, mesh.size)
  preempted = False
  try:
    with Preemption() as preemption:
      step = start_step
      while step < num_steps and not preempted:
        with jax.transfer_guard_device_to_host("disallow"):  # no implicit fetch.
          batch = next(batches)
          state, measurements = step_fn(state, batch)
        if pending:   # the host stays one step ahead of the device, not more.
          jax.block_until_ready(pending[-1][1])
        if step == start_step:
          _write_input_clip(writer, step + 1, batch, config)
        step += 1
        window_steps += 1
        pending.append((step, measurements))

        log_now = step % config.train.log_every_steps == 0 or step == num_steps
        preempted = (preemption.requested
                     or checkpointer.reached_preemption(step))
        save_now = preempted or step == num_steps or checkpointer.is_due(step)
        eval_now = not preempted and evaluate_fn is not None and eval_every > 0 and (
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
                          meta={"step": step,
                                "skipped_steps": finite_check.skipped},
                          force=preempted or step == num_steps)
        if eval_now:
          eval_metrics = evaluate_fn(config, state, workdir, step)
          writer.write_scalars(step, {f"eval/{k}": v for k, v in
                                      eval_metrics.items()
                                      if isinstance(v, (int, float))})
          last.update({f"eval/{k}": v for k, v in eval_metrics.items()})
  finally:
    # Also when the run stops on an error: a checkpoint whose (asynchronous)
    # write has started is completed, so the last good state is kept.
    checkpointer.close()
    writer.flush()
  if preempted:
    logging.warning("Stopped at step %d after preemption; rerun the same "
                    "command to resume.", step)
  else:
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
