"""Training semantic K-Net on VSPW-format clips (config.model.task = 'semantic').

  python train.py --config=configs/vspw.py:debug --workdir=/tmp/vspw

A training clip is a key frame and one reference (4.3): the reference runs
without previous kernels; with `config.model.temporal.fusion` the key frame
fuses the reference's kernels (not detached). CE losses on both frames.
The train state (params, batch_stats, optimizer state, step) is checkpointed
through the shared `checkpointing.TrainCheckpointer` under WORKDIR/checkpoints
every `checkpoint_every_steps`, at the end and on SIGTERM; rerunning the same
command resumes from the newest intact checkpoint (torn ones are set aside),
with the same data order and dropout keys, so a split run equals an unbroken
one. evaluate.py reads the variables from WORKDIR.
"""
import math
import time
from typing import Any, Callable, Dict

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

from video_knet_jax import checkpointing
from video_knet_jax import common
from video_knet_jax import sharding
from video_knet_jax import train_lib
from video_knet_jax.data import prepare
from video_knet_jax.data import semantic_clips
from video_knet_jax.losses import semantic_loss
from video_knet_jax.models import semantic_knet


def learning_rate_schedule(config) -> Callable[[Any], Any]:
  """mmcv linear warmup from lr * warmup_ratio, then x decay_gamma at each decay step."""
  o = config.optim
  decay = optax.piecewise_constant_schedule(
      o.lr, {int(s): o.decay_gamma for s in o.decay_steps})

  def schedule(step):
    warm = jnp.minimum(step / max(o.warmup_steps, 1), 1.0)
    factor = 1.0 - (1.0 - o.warmup_ratio) * (1.0 - warm)
    return decay(step) * factor
  return schedule


def make_optimizer(config) -> optax.GradientTransformation:
  """AdamW with global-norm clipping (K-Net's semantic recipe)."""
  return optax.chain(optax.clip_by_global_norm(config.optim.clip_norm),
                     optax.adamw(learning_rate_schedule(config),
                                 weight_decay=config.optim.weight_decay))


def init_variables(model, config, rng) -> Dict[str, Any]:
  size = config.data.crop_size
  images = jnp.zeros((1, 2, *size, 3), jnp.float32)
  return dict(model.init({"params": rng, "dropout": rng}, images, train=False,
                         method=semantic_knet.SemanticKNet.clip_forward))


def make_train_step(config, model, tx) -> Callable:
  """(state, batch) -> (state, measurements); state = dict(params, batch_stats, opt_state, step)."""
  ignore = int(config.data.ignore_label)

  def loss_fn(params, batch_stats, batch, rng):
    (key_out, ref_out), updates = model.apply(
        {"params": params, "batch_stats": batch_stats}, batch[common.IMAGE], train=True,
        method=semantic_knet.SemanticKNet.clip_forward, mutable=["batch_stats"],
        rngs={"dropout": rng})
    losses = semantic_loss.clip_losses(key_out, ref_out, batch[common.SEMANTIC], config.loss,
                                       ignore)
    return losses["loss"], (losses, updates["batch_stats"])

  schedule = learning_rate_schedule(config)

  def train_step(state, batch):
    # Dropout keys as in the other tasks' steps: the seed folded with the
    # number of steps taken so far.
    rng = jax.random.fold_in(jax.random.key(config.seed), state["step"])
    grads, (losses, batch_stats) = jax.grad(loss_fn, has_aux=True)(
        state["params"], state["batch_stats"], batch, rng)
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    measurements = dict(losses, grad_norm=optax.global_norm(grads),
                        param_norm=optax.global_norm(params),
                        learning_rate=schedule(state["step"]))
    return dict(params=params, batch_stats=batch_stats, opt_state=opt_state,
                step=state["step"] + 1), measurements

  return train_step


def _mesh_for(config, batch_size: int):
  """config.mesh over as many devices as divide the global batch."""
  devices = jax.devices()
  n = math.gcd(batch_size, len(devices))
  if n != len(devices):
    logging.warning("Global batch %d does not divide over %d devices; using %d.",
                    batch_size, len(devices), n)
  return sharding.make_mesh(((sharding.DATA_AXIS, n),), devices[:n])


def init_state(config, model, tx, rng) -> Dict[str, Any]:
  """The step-0 train state: dict(params, batch_stats, opt_state, step)."""
  variables = init_variables(model, config, rng)
  return dict(params=variables["params"], batch_stats=variables.get("batch_stats", {}),
              opt_state=tx.init(variables["params"]), step=jnp.zeros((), jnp.int32))


def train_and_evaluate(config, workdir: str, evaluate_fn=None) -> Dict[str, Any]:
  """Trains (resuming from `workdir`) up to `config.train.num_steps`, then evaluates.

  Returns {'loss_history': [(step, loss)], 'stopped_at': step} plus the
  metrics of `evaluate_fn(config, variables, workdir)`; after a SIGTERM it
  saves, returns without evaluating, and a rerun continues.
  """
  model = semantic_knet.build_model(config)
  batch_size = int(config.train.batch_size)
  mesh = _mesh_for(config, batch_size)
  builder = prepare.ensure_dataset(config)
  tx = make_optimizer(config)
  rng = jax.random.key(config.seed)
  state = jax.jit(lambda r: init_state(config, model, tx, r),
                  out_shardings=sharding.replicated(mesh))(rng)
  checkpointer = checkpointing.TrainCheckpointer(
      workdir, save_every_steps=int(config.train.checkpoint_every_steps),
      keep=int(config.train.get("keep_checkpoints", 3)))
  abstract = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
  # The newest checkpoint that reads back whole (torn ones are set aside).
  restored = checkpointer.restore_latest_intact(abstract)
  if restored is not None:
    state = restored[0]
    logging.info("Resumed from %s at step %d.", checkpointer.directory, int(state["step"]))
  start_step = int(state["step"])
  dataset = semantic_clips.make_train_dataset(
      config, builder, batch_size=batch_size // jax.process_count(), start_step=start_step)
  step_fn = jax.jit(make_train_step(config, model, tx), donate_argnums=(0,))
  num_steps = int(config.train.num_steps)
  start = time.time()
  history = []
  # ------------------------------------------------------------ training loop
  with train_lib.Preemption() as preemption:
    for step, batch in zip(range(start_step + 1, num_steps + 1), dataset.as_numpy_iterator()):
      batch = sharding.put_batch(batch, mesh)
      state, measurements = step_fn(state, batch)
      if step % config.train.log_every_steps == 0 or step == num_steps:
        measurements = jax.device_get(measurements)
        bad = [k for k, v in measurements.items() if not np.isfinite(v)]
        if bad:
          raise FloatingPointError(f"Step {step}: non-finite {bad} ({workdir}).")
        history.append((step, float(measurements["loss"])))
        logging.info("step %d/%d loss %.4f (%.1fs)", step, num_steps, measurements["loss"],
                     time.time() - start)
        print(f"step {step}/{num_steps} loss {measurements['loss']:.4f}", flush=True)
      preempted = preemption.requested or checkpointer.reached_preemption(step)
      checkpointer.save(step, state, meta={"step": step, "skipped_steps": 0},
                        force=preempted or step == num_steps)
      if preempted:
        checkpointer.close()
        logging.warning("Stopped at step %d after preemption; rerun the same "
                        "command to resume.", step)
        return {"loss_history": history, "stopped_at": step}
  checkpointer.close()
  # --------------------------------------------------------------- evaluation
  metrics = {"loss_history": history, "stopped_at": int(state["step"])}
  if evaluate_fn is not None:
    metrics.update(evaluate_fn(config, {"params": state["params"],
                                        "batch_stats": state["batch_stats"]}, workdir))
  return metrics
