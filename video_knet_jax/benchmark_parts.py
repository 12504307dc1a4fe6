"""Where a train step's time goes: the step cut into separately jitted parts.

Each part is its own `jax.jit` on the real shapes (random inputs, random
weights) and is timed like the whole step (median wall time and CPU time over
repeated calls). The parts overlap nothing and leave nothing out, so their
sum is close to the whole step; what XLA fuses across part boundaries in the
whole step is the difference.

  backbone_neck_fwd      ResNet + FPN forward on the B*T frames
  backbone_neck_fwd_bwd  the same with the backward pass (parameter grads)
  heads_fwd_bwd          kernel head, update stages, linking and embedding
                         head of key and reference, forward + backward, on
                         fixed FPN features (gradients of the parameters and
                         of the features)
  losses_fwd_bwd         every loss (matching included) and its gradient
                         w.r.t. the model outputs
  matching               the matching costs + Hungarian solves alone (part
                         of losses_fwd_bwd)
  optimizer              clipping + AdamW update of every parameter
  step                   the whole jitted train step, for reference

Used by `python -m video_knet_jax.benchmark --mode=parts`.
"""
import statistics
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util

from video_knet_jax import common
from video_knet_jax import random_batch
from video_knet_jax import sharding
from video_knet_jax import train as train_lib
from video_knet_jax.losses import matching
from video_knet_jax.losses import segmentation_loss
from video_knet_jax.losses import video_loss
from video_knet_jax.models import video_knet


def time_jitted(fn: Callable, *args, steps: int) -> dict:
  """Compiles `fn(*args)`, warms up once, times `steps` calls."""
  start = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  compile_s = time.perf_counter() - start
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else {}
  jax.block_until_ready(compiled(*args))
  times = []
  cpu_start = time.process_time()
  for _ in range(steps):
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    times.append(time.perf_counter() - start)
  return {"compile_s": round(compile_s, 2),
          "s_median": round(statistics.median(times), 4),
          "s_min": round(min(times), 4),
          "cpu_s": round((time.process_time() - cpu_start) / steps, 4),
          "gflops": round(float((cost or {}).get("flops", float("nan"))) / 1e9,
                          2)}


def _heads_of_clip(module: video_knet.VideoKNet, feats, b: int, t: int):
  """`VideoKNet.clip_forward` after the FPN: feats [B*T, h, w, D] per level."""
  feats = [f.reshape(b, t, *f.shape[1:]) for f in feats]
  ref = module.heads([f[:, 1:].reshape(b * (t - 1), *f.shape[2:])
                      for f in feats])
  key = module.heads([f[:, 0] for f in feats],
                     previous_kernels=ref[common.KERNELS][:b])
  return key, ref


def _dot(tree, cotangent) -> jax.Array:
  """sum(tree * cotangent): a scalar whose gradient is the VJP of `cotangent`."""
  return sum(jnp.vdot(x.astype(jnp.float32), c) for x, c in zip(
      jax.tree.leaves(tree), jax.tree.leaves(cotangent)))


def zero_frozen(grads, config):
  """`grads` with the frozen parameters' entries zeroed (as the step does)."""
  is_frozen = train_lib.frozen_filter(config)
  flat = traverse_util.flatten_dict(grads)
  return traverse_util.unflatten_dict(
      {k: jnp.zeros_like(v) if is_frozen(k) else v for k, v in flat.items()})


def _random_like(tree, seed: int):
  leaves, treedef = jax.tree.flatten(tree)
  rng = np.random.default_rng(seed)
  return jax.tree.unflatten(treedef, [
      jnp.asarray(rng.normal(size=x.shape).astype(np.float32) * 1e-3)
      for x in leaves])


def matching_of_frame(outputs, targets, config):
  """The matching part of `segmentation_loss.frame_losses` (costs + solve)."""
  tg = segmentation_loss.prepare_targets(targets, config.loss.mask_assign_stride)
  return matching.solve(segmentation_loss.frame_costs(outputs, tg, config),
                        tg.thing_valid)


def run_parts(config, height: int, width: int, batch: int, steps: int) -> dict:
  """Times every part (see the module doc); returns {part: figures}."""
  config.data.crop_size = (height, width)
  config.train.batch_size = batch
  mesh = sharding.make_mesh(config.mesh)
  model = video_knet.build_model(config)
  state, tx, state_sharding = train_lib.create_train_state(
      config, model, mesh, jax.random.key(0))
  device_batch = sharding.put_batch(
      random_batch.random_clip_batch(config, batch, height, width), mesh)
  images = device_batch[common.IMAGE]
  b, t = images.shape[:2]
  frames = images.reshape(b * t, *images.shape[2:])
  params, stats = state.params, state.batch_stats
  variables = {"params": params, "batch_stats": stats}
  results = {}

  def extract(p, x):
    return model.apply({"params": p, "batch_stats": stats}, x,
                       method=video_knet.VideoKNet.extract_feats)

  feats = jax.jit(extract)(params, frames)
  feat_cot = _random_like(feats, 1)
  results["backbone_neck_fwd"] = time_jitted(extract, params, frames,
                                             steps=steps)
  # Frozen parameters' gradients are dropped as in the step (where XLA then
  # removes their backward pass).
  results["backbone_neck_fwd_bwd"] = time_jitted(
      lambda p, x, c: zero_frozen(
          jax.grad(lambda p: _dot(extract(p, x), c))(p), config),
      params, frames, feat_cot, steps=steps)

  def heads(p, f):
    return model.apply({"params": p, "batch_stats": stats}, f,
                       method=lambda mod, f: _heads_of_clip(mod, f, b, t))

  key_out, ref_out = jax.jit(heads)(params, feats)
  head_cot = _random_like((key_out, ref_out), 2)
  # Gradients of the parameters and of the FPN features (what flows back
  # into backbone_neck_fwd_bwd's cotangent in the step).
  results["heads_fwd_bwd"] = time_jitted(
      jax.grad(lambda p, f, c: _dot(heads(p, f), c), argnums=(0, 1)), params, feats,
      head_cot, steps=steps)

  outputs = model.apply(variables, images, train=True,
                        method=video_knet.VideoKNet.clip_forward)
  outputs = jax.jit(lambda o: o)(outputs)

  def loss(o, bt):
    return video_loss.video_knet_loss(o, bt, config)[0]

  results["losses_fwd_bwd"] = time_jitted(jax.grad(loss), outputs,
                                          device_batch, steps=steps)

  def match_both(o, bt):
    return [matching_of_frame(o[i], video_loss.frame_targets(bt, i), config)
            for i in range(t)]

  results["matching"] = time_jitted(match_both, outputs, device_batch,
                                    steps=steps)

  grads = _random_like(params, 3)

  def optimizer(g, opt_state, p):
    updates, opt_state = tx.update(g, opt_state, p)
    return optax.apply_updates(p, updates), opt_state

  results["optimizer"] = time_jitted(optimizer, grads, state.opt_state,
                                     params, steps=steps)
  step_fn = train_lib.make_train_step(config, model, tx)
  results["step"] = time_jitted(step_fn, state, device_batch, steps=steps)
  parts = ("backbone_neck_fwd_bwd", "heads_fwd_bwd", "losses_fwd_bwd",
           "optimizer")
  results["sum_of_parts_s_median"] = round(
      sum(results[p]["s_median"] for p in parts), 4)
  results["sum_of_parts_cpu_s"] = round(
      sum(results[p]["cpu_s"] for p in parts), 4)
  return results
