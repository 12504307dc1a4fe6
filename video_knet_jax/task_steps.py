"""Each task's jitted steps, built the way its trainer builds them, in one place.

The GPU/TPU lowering tests (tests/test_lowering.py) and the device benchmark
(tools/device_benchmark.py) take every step from here. One adaptor per task
and per kind of step calls into that task's trainer or predictor; when the
trainers merge into one task registry, these adaptors are the one place to
re-point.

  train_step(config, mesh)       -> TrainStep (panoptic, semantic, instance)
  panoptic_online_step(config)   -> the predictor's jitted frame: model + linking
                                    + panoptic merge + tracker
  instance_video_predictor(cfg)  -> KNetTrack whole-video inference (vis_bounded)

Nothing here imports TensorFlow, TFDS or clu (the per-task trainer modules are
imported inside the adaptors that need them).
"""
import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from video_knet_jax import common
from video_knet_jax import random_batch
from video_knet_jax import sharding

PANOPTIC, SEMANTIC, INSTANCE = "panoptic", "semantic", "instance"


def task_of(config) -> str:
  """The task a config trains, as train.py dispatches it."""
  if config.model.get("task", "") == "semantic":
    return SEMANTIC
  if config.model.get("family", "") == "knet_track":
    return INSTANCE
  return PANOPTIC


def set_input_size(config, height: int, width: int) -> None:
  """Sets the training input size (H, W) where the task's config keeps it."""
  if task_of(config) == INSTANCE:
    config.data.canvas = (height, width)
  else:
    config.data.crop_size = (height, width)
    config.data.eval_size = (height, width)


@dataclasses.dataclass(frozen=True)
class TrainStep:
  """A task's train step, jitted as its trainer jits it.

  step(state, batch) -> (state, measurements): state replicated, batch split
  over the mesh's 'data' axis, state donated. init(rng) -> the step-0 state on
  the mesh. abstract_state: its shapes and dtypes (no initialisation run).
  make_batch(batch_size, seed) -> a host numpy batch of random clips with the
  real keys, shapes and dtypes.
  """
  step: Any
  init: Callable[[jax.Array], Any]
  abstract_state: Any
  make_batch: Callable[..., dict]
  mesh: Mesh

  def abstract_batch(self, batch_size: int) -> dict:
    """ShapeDtypeStructs of a global batch of `batch_size` clips."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                        self.make_batch(batch_size))


def train_step(config, mesh: Mesh) -> TrainStep:
  """The train step of `config`'s task on `mesh`."""
  return {PANOPTIC: _panoptic_train_step, SEMANTIC: _semantic_train_step,
          INSTANCE: _instance_train_step}[task_of(config)](config, mesh)


def _abstract_state_and_optimizer(create: Callable, config, mesh: Mesh
                                  ) -> tuple[Any, Any, Any]:
  """(abstract state, optimizer, state sharding) of a trainer's
  `create(rng) -> (state, tx, ...)`, without initialising: the state's shapes
  come from `jax.eval_shape`; the optimizer is built again outside it, from
  the abstract parameters as the trainers build it (one built inside would
  close over the trace's values); the state is replicated, as they lay it out."""
  from video_knet_jax import optim  # pylint: disable=g-import-not-at-top
  from video_knet_jax import train_lib  # pylint: disable=g-import-not-at-top
  abstract = jax.eval_shape(lambda rng: create(rng)[0], jax.random.key(0))
  tx = optim.make_optimizer(config, abstract.params, train_lib.frozen_filter(config))
  return abstract, tx, jax.tree.map(lambda _: sharding.replicated(mesh), abstract)


def _panoptic_train_step(config, mesh: Mesh) -> TrainStep:
  """Video K-Net (KITTI-STEP, Cityscapes-VPS, VIPSeg, ...): train_lib."""
  from video_knet_jax import train_lib  # pylint: disable=g-import-not-at-top
  from video_knet_jax.models import video_knet  # pylint: disable=g-import-not-at-top
  model = video_knet.build_model(config)
  create = lambda rng: train_lib.create_train_state(config, model, mesh, rng)
  abstract, tx, state_sharding = _abstract_state_and_optimizer(create, config, mesh)
  step = train_lib.jit_train_step(train_lib.make_train_step(config, model, tx),
                                  state_sharding, mesh)
  height, width = (int(s) for s in config.data.crop_size)

  def make_batch(batch_size: int, seed: int = 0) -> dict:
    batch = random_batch.random_clip_batch(config, batch_size, height, width, seed=seed)
    if config.data.get("targets_on_device", False):   # the step builds the targets.
      from video_knet_jax.datasets import facts  # pylint: disable=g-import-not-at-top
      divisor = facts.facts_for_config(config).label_divisor
      batch = random_batch.compact_labels(batch, divisor)
    return batch
  return TrainStep(step=step, init=lambda rng: create(rng)[0], abstract_state=abstract,
                   make_batch=make_batch, mesh=mesh)


def _semantic_train_step(config, mesh: Mesh) -> TrainStep:
  """Semantic K-Net (VSPW): semantic_train_lib; its step takes the dropout
  key as a third argument, drawn here from the step counter."""
  from video_knet_jax import semantic_train_lib  # pylint: disable=g-import-not-at-top
  from video_knet_jax.models import semantic_knet  # pylint: disable=g-import-not-at-top
  model = semantic_knet.build_model(config)
  tx = semantic_train_lib.make_optimizer(config)
  replicated = sharding.replicated(mesh)
  init = jax.jit(lambda rng: semantic_train_lib.init_state(config, model, tx, rng),
                 out_shardings=replicated)
  step_with_key = semantic_train_lib.make_train_step(config, model, tx)
  seed = int(config.seed)

  def step(state, batch):
    key = jax.random.fold_in(jax.random.key(seed), state["step"] + 1)
    return step_with_key(state, batch, key)
  step = jax.jit(step, in_shardings=(replicated, sharding.batch_sharding(mesh)),
                 out_shardings=(replicated, replicated), donate_argnums=(0,))
  return TrainStep(step=step, init=init, abstract_state=jax.eval_shape(init, jax.random.key(0)),
                   make_batch=lambda n, seed=0: random_batch.random_semantic_clip_batch(
                       config, n, seed=seed), mesh=mesh)


def _instance_train_step(config, mesh: Mesh) -> TrainStep:
  """KNetTrack (YouTube-VIS): vis_lib."""
  from video_knet_jax import train_lib  # pylint: disable=g-import-not-at-top
  from video_knet_jax import vis_lib  # pylint: disable=g-import-not-at-top
  from video_knet_jax.models import knet_track  # pylint: disable=g-import-not-at-top
  if config.train.num_steps <= 0 and config.train.num_train_frames <= 0:
    # The trainer counts the built split's frames; no data here, so a
    # nominal size fixes the schedule's length (the step's cost is the same).
    config.train.num_train_frames = 1000 * int(config.train.batch_size)
  model = knet_track.build_model(config)
  create = lambda rng: vis_lib.create_train_state(config, model, mesh, rng)
  abstract, tx, state_sharding = _abstract_state_and_optimizer(create, config, mesh)
  step = train_lib.jit_train_step(vis_lib.make_train_step(config, model, tx),
                                  state_sharding, mesh)
  return TrainStep(step=step, init=lambda rng: create(rng)[0], abstract_state=abstract,
                   make_batch=lambda n, seed=0: random_batch.random_vis_clip_batch(
                       config, n, seed=seed), mesh=mesh)


# =============================================================================
# Inference.
# =============================================================================
def panoptic_online_step(config, variables=None) -> tuple[Any, tuple]:
  """(jitted frame, its arguments) of `inference.predictor.VideoPredictor`
  in the steady state (previous kernels given) on a config.data.eval_size
  frame: model + linking + panoptic merge + embedding tracker, one jit.

  `variables` None: their abstract shapes (for lowering); the arguments are
  then ShapeDtypeStructs too.
  """
  from video_knet_jax import train_lib  # pylint: disable=g-import-not-at-top
  from video_knet_jax.inference import predictor as predictor_lib  # pylint: disable=g-import-not-at-top
  from video_knet_jax.models import video_knet  # pylint: disable=g-import-not-at-top
  model = video_knet.build_model(config)
  abstract = variables is None
  if abstract:
    variables = jax.eval_shape(lambda r: train_lib.init_variables(model, config, r),
                               jax.random.key(0))
  predictor = predictor_lib.VideoPredictor(model, variables, config)
  height, width = (int(s) for s in config.data.eval_size)
  image = jax.ShapeDtypeStruct((1, height, width, 3), jnp.float32)
  kernels = jax.eval_shape(model.apply, variables, image)[common.KERNELS]
  tracker = predictor.init_tracker_state((height, width))
  args = (variables, image, jax.ShapeDtypeStruct((2,), jnp.int32), kernels,
          jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tracker),
          jax.ShapeDtypeStruct((), jnp.int32))
  if not abstract:
    rng = np.random.default_rng(0)
    args = (variables, jnp.asarray(rng.normal(size=image.shape), jnp.float32),
            jnp.asarray((height, width), jnp.int32),
            jnp.asarray(0.1 * rng.normal(size=kernels.shape), kernels.dtype),
            tracker, jnp.asarray(1, jnp.int32))
  return predictor._step, args  # pylint: disable=protected-access


def instance_video_predictor(config) -> Callable:
  """predict(variables, load, num_frames, frame_bucket) of KNetTrack's
  whole-video inference as YouTube-VIS evaluation runs it (vis_lib.evaluate):
  yields (start, scores [N, C], mask logits [n, N, h, w]) per chunk of frames."""
  from video_knet_jax.inference import vis_inference  # pylint: disable=g-import-not-at-top
  from video_knet_jax.models import knet_track  # pylint: disable=g-import-not-at-top
  return vis_inference.make_predict_fn(knet_track.build_model(config),
                                       int(config.inference.get("frame_chunk", 0)))
