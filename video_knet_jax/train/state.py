"""The train state of every task, built on the mesh, and `init_from`.

Parameters, batch statistics and optimizer state are replicated over the
mesh; the state is built by `jax.jit` with explicit out_shardings from the
shapes `jax.eval_shape` gives, so no host round trip is made.
"""
import dataclasses
import functools
import json
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import optax
from flax import traverse_util

from video_knet_jax import sharding
from video_knet_jax import tasks


@flax.struct.dataclass
class TrainState:
  step: jax.Array          # [] int32, number of optimizer steps taken.
  params: Any
  batch_stats: Any         # frozen (norm_eval) or trained BN statistics.
  opt_state: Any


@dataclasses.dataclass(frozen=True)
class StateSpec:
  """A task's train state on the mesh, before any of it is computed.

  init(rng) -> the step-0 state (jitted, laid out as `sharding`); tx: the
  optimizer, built outside any trace; abstract: the state's shapes and
  dtypes (what a compile-only run or a lowering needs).
  """
  init: Callable[[jax.Array], TrainState]
  tx: optax.GradientTransformation
  sharding: Any
  abstract: TrainState


def train_state_spec(config, model, mesh, task=None) -> StateSpec:
  """The state's initialiser, optimizer, sharding and shapes, without
  initialising (`task` defaults to the config's)."""
  task = task or tasks.get(config)
  rng = jax.random.key(0)     # only its shape and dtype are used here.
  abstract_vars = jax.eval_shape(
      functools.partial(task.init_variables, model, config), rng)
  tx = task.make_optimizer(config, abstract_vars["params"])

  def init_state(rng):
    variables = task.init_variables(model, config, rng)
    return TrainState(step=jnp.zeros((), jnp.int32),
                      params=variables["params"],
                      batch_stats=variables.get("batch_stats", {}),
                      opt_state=tx.init(variables["params"]))

  abstract = jax.eval_shape(init_state, rng)
  state_sharding = jax.tree.map(lambda _: sharding.replicated(mesh), abstract)
  return StateSpec(init=jax.jit(init_state, out_shardings=state_sharding),
                   tx=tx, sharding=state_sharding, abstract=abstract)


def create_train_state(config, model, mesh, rng, task=None
                       ) -> tuple[TrainState, optax.GradientTransformation, Any]:
  """Initialises replicated state on the mesh (no host round trip).

  Returns (state, optimizer, state sharding); `task` defaults to the config's.
  """
  spec = train_state_spec(config, model, mesh, task)
  return spec.init(rng), spec.tx, spec.sharding


def abstract_state(state: TrainState) -> TrainState:
  """ShapeDtypeStructs with the state's shardings (a restore target)."""
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
      state)


def merge_init_from(state: TrainState, loaded: dict, *, strict: bool
                    ) -> tuple[TrainState, dict]:
  """Copies matching leaves of converted weights into the state's variables.

  Returns the new state and a report of loaded / missing (left at init) /
  unexpected / mismatched paths (image K-Net -> Video K-Net leaves the
  linking layers at init).
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
