"""Model variables for conversion: fresh initialisation or a saved checkpoint."""
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from video_knet_jax import checkpointing
from video_knet_jax import tasks

RANDOM = "random"
# Variable shapes do not depend on the input size; the smallest valid frame
# (H, W multiples of 32; P5 >= 1x1) keeps initialisation cheap.
_INIT_SIZE = 64


def build_model(config):
  """The model of `config`'s task (config.task, video_knet_jax/tasks)."""
  return _model_and_input_shape(config)[0]


def _model_and_input_shape(config):
  """The model of `config` and the smallest input it takes."""
  task = tasks.get(config)
  return task.build_model(config), task.init_input_shape(_INIT_SIZE)


def init_variables(config, seed: Optional[int] = None) -> dict[str, Any]:
  """Freshly initialised `{'params', 'batch_stats'}` of `build_model(config)` (numpy)."""
  model, shape = _model_and_input_shape(config)
  seed = int(config.get("seed", 0)) if seed is None else seed
  images = jnp.zeros(shape, jnp.float32)
  variables = jax.jit(model.init)(jax.random.key(seed), images)
  return jax.tree.map(np.asarray, dict(variables))


def abstract_variables(config) -> dict[str, Any]:
  """`jax.ShapeDtypeStruct`s of the model variables (no compute)."""
  model, shape = _model_and_input_shape(config)
  images = jax.ShapeDtypeStruct(shape, jnp.float32)
  return dict(jax.eval_shape(model.init, jax.random.key(0), images))


def load_variables(config, checkpoint: str, step: Optional[int] = None) -> dict[str, Any]:
  """`checkpoint` = 'random', a `save_variables` directory or a training workdir."""
  if checkpoint == RANDOM:
    return init_variables(config)
  loaded = checkpointing.load_variables_or_workdir(checkpoint, step)
  variables = {c: loaded[c] for c in ("params", "batch_stats") if c in loaded}
  if "params" not in variables:
    raise ValueError(f"{checkpoint}: no 'params' in the checkpoint (found {sorted(loaded)}).")
  return jax.tree.map(np.asarray, variables)
