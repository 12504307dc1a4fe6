"""Checkpoints: the only module that imports Orbax.

Training state is saved asynchronously by a `CheckpointManager` under
`<workdir>/checkpoints/<step>/`; converted or exported model variables
(`{'params': ..., 'batch_stats': ...}`) are saved as a plain Orbax tree.
Keeping every Orbax call here makes an API move a one-file change.
"""
import os
import shutil
import time
from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging

from video_knet_jax import atomic_files

CHECKPOINT_SUBDIR = "checkpoints"
# Checkpoints that cannot be read back are moved here (never deleted).
DAMAGED_SUBDIR = "checkpoints_damaged"


class CheckpointMismatchError(ValueError):
  """The checkpoint is readable but holds another model's (or optimizer's) tree."""


class CheckpointUnreadableError(ValueError):
  """The checkpoint's files are torn, truncated or not an Orbax checkpoint."""


def _restore_or_explain(path: str, restore_fn):
  try:
    return restore_fn()
  except Exception as e:  # pylint: disable=broad-except
    first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
    raise CheckpointUnreadableError(
        f"{path}: cannot be read back as a checkpoint (torn, truncated or not "
        f"an Orbax checkpoint; {type(e).__name__}: {first})") from e


def _shapes_by_path(tree: Any) -> dict[str, tuple[int, ...]]:
  """'params/backbone/conv1/kernel' -> shape, for state trees and Orbax metadata
  alike (dataclass fields, dict keys and sequence indices all become names)."""
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    names = []
    for key in path:
      for attr in ("key", "name", "idx"):
        if hasattr(key, attr):
          names.append(str(getattr(key, attr)))
          break
    out["/".join(names)] = tuple(getattr(leaf, "shape", ()))
  return out


def describe_mismatch(expected: Any, found: Any, limit: int = 3) -> str:
  """'' when the trees have the same paths and shapes, else a short summary."""
  want, have = _shapes_by_path(expected), _shapes_by_path(found)
  missing = sorted(set(want) - set(have))
  extra = sorted(set(have) - set(want))
  reshaped = sorted(k for k in set(want) & set(have) if want[k] != have[k])
  parts = []
  if missing:
    parts.append(f"{len(missing)} arrays of the model not in the checkpoint "
                 f"(e.g. {missing[:limit]})")
  if extra:
    parts.append(f"{len(extra)} arrays in the checkpoint not in the model "
                 f"(e.g. {extra[:limit]})")
  if reshaped:
    parts.append(f"{len(reshaped)} of another shape (e.g. " + ", ".join(
        f"{k}: {have[k]} in the checkpoint, {want[k]} in the model"
        for k in reshaped[:limit]) + ")")
  return "; ".join(parts)


def _abstract(tree: Any) -> Any:
  """ShapeDtypeStructs (with shardings where known) for restoring `tree`."""
  def to_struct(x):
    sharding = getattr(x, "sharding", None)
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)
  return jax.tree.map(to_struct, tree)


class TrainCheckpointer:
  """Async, preemption-aware checkpoints of the train state in a workdir."""

  def __init__(self, workdir: str, *, save_every_steps: int, keep: int = 3):
    self.directory = os.path.join(os.path.abspath(workdir), CHECKPOINT_SUBDIR)
    policies = ocp.checkpoint_managers
    options = ocp.CheckpointManagerOptions(
        # Every `save_every_steps` and on preemption; not Orbax's default extra
        # save of the first step, which cost a full write at step 1.
        save_decision_policy=policies.AnySavePolicy([
            policies.FixedIntervalPolicy(save_every_steps),
            policies.PreemptionCheckpointingPolicy()]),
        enable_async_checkpointing=True,
        preservation_policy=ocp.checkpoint_managers.LatestN(keep),
        # A kill during an async write leaves `<step>.orbax-checkpoint-tmp-*`.
        cleanup_tmp_directories=True,
        create=True)
    self._manager = ocp.CheckpointManager(self.directory, options=options)

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def save(self, step: int, state: Any, *, meta: dict | None = None,
           force: bool = False) -> bool:
    """Saves if `step` is due (or `force`); returns whether a save started."""
    return self._manager.save(
        step,
        args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                meta=ocp.args.JsonSave(meta or {})),
        force=force)

  def restore(self, abstract_state: Any, step: int | None = None
              ) -> tuple[Any, dict]:
    """Restores `step` (default: latest) onto `abstract_state`'s shardings."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"No checkpoint in {self.directory}.")
    restored = self._manager.restore(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state),
            meta=ocp.args.JsonRestore()))
    return restored["state"], dict(restored["meta"] or {})

  def restore_latest_intact(self, abstract_state: Any
                            ) -> tuple[Any, dict, int] | None:
    """Restores the newest checkpoint that reads back whole; None if none.

    A checkpoint whose files are torn or truncated (a kill or a full disk
    while it was written, a bad copy) fails to read: it is moved to
    `<workdir>/checkpoints_damaged/` with a warning naming it, and the previous
    one is tried. Restoring builds new arrays, so a failed read leaves nothing
    half-loaded. A readable checkpoint of another model raises
    CheckpointMismatchError (a user error: nothing is moved).
    """
    for step in sorted(self.all_steps(), reverse=True):
      path = os.path.join(self.directory, str(step))
      error = None
      try:
        found = ocp.StandardCheckpointer().metadata(
            os.path.join(path, "state")).item_metadata
      except Exception as e:  # pylint: disable=broad-except
        found, error = None, e
      if found is None:
        error = error or ValueError("its tree metadata (state/_METADATA) is "
                                    "missing or unreadable")
      else:
        mismatch = describe_mismatch(abstract_state, found)
        if mismatch:
          raise CheckpointMismatchError(
              f"{path}: the checkpoint does not fit the config's model "
              f"({mismatch}); use a fresh --workdir or the config it was "
              "trained with.")
        try:
          state, meta = self.restore(abstract_state, step)
          return state, meta, step
        except Exception as e:  # pylint: disable=broad-except
          error = e  # Orbax/TensorStore raise several kinds for torn files.
      message = str(error).strip().splitlines()[0][:300] if str(error) else ""
      logging.warning("Checkpoint %s cannot be read back (%s: %s): moving it to "
                      "%s and using the previous one.", path,
                      type(error).__name__, message, DAMAGED_SUBDIR)
      self._set_aside(step)
    return None

  def _set_aside(self, step: int) -> None:
    """Moves step's directory out of the manager's sight (process 0 only)."""
    if jax.process_index() == 0:
      damaged = os.path.join(os.path.dirname(self.directory), DAMAGED_SUBDIR)
      os.makedirs(damaged, exist_ok=True)
      target = os.path.join(damaged, str(step))
      if os.path.exists(target):
        target += f".{int(time.time())}"
      os.rename(os.path.join(self.directory, str(step)), target)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      multihost_utils.sync_global_devices(f"checkpoint_set_aside_{step}")
    self._manager.reload()

  def is_due(self, step: int) -> bool:
    """Whether `save(step, ...)` without `force` would save."""
    return self._manager.should_save(step)

  def reached_preemption(self, step: int) -> bool:
    return self._manager.reached_preemption(step)

  def wait_until_finished(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def find_train_checkpoint(workdir: str, step: int | None = None) -> str:
  """Path of the state item of a training checkpoint (latest by default)."""
  directory = os.path.join(os.path.abspath(workdir), CHECKPOINT_SUBDIR)
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"No checkpoints directory in {workdir!r}.")
  steps = sorted(int(d) for d in os.listdir(directory) if d.isdigit())
  if not steps:
    raise FileNotFoundError(f"No checkpoint in {directory!r}.")
  if step is None:
    step = steps[-1]
  elif step not in steps:
    raise FileNotFoundError(
        f"No checkpoint for step {step} in {directory!r}; have {steps}.")
  return os.path.join(directory, str(step), "state")


def load_train_tree(workdir: str, step: int | None = None) -> dict:
  """The whole saved train state (step, params, batch_stats, opt_state) as
  nested dicts of arrays on this process's first device; needs no train
  state template, and reads checkpoints of any topology (e.g. one written by
  2 processes x 4 devices, read by 1 process with 1 device)."""
  path = find_train_checkpoint(workdir, step)

  def restore():
    checkpointer = ocp.StandardCheckpointer()
    local = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    target = jax.tree.map(
        lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=local),
        checkpointer.metadata(path).item_metadata)
    return checkpointer.restore(path, target)

  return _restore_or_explain(path, restore)


def load_train_variables(workdir: str, step: int | None = None) -> dict:
  """Model variables (`params`, `batch_stats`) of a training checkpoint.

  Reads without the optimizer's structure, so evaluation and conversion need
  no train state template.
  """
  restored = load_train_tree(workdir, step)
  return {"params": restored["params"],
          "batch_stats": restored.get("batch_stats", {})}


def save_variables(directory: str, variables: dict) -> None:
  """Saves model variables as a standalone Orbax tree (blocking)."""
  directory = os.path.abspath(directory)
  partial = f"{directory}{atomic_files.PARTIAL}-{os.getpid()}"
  shutil.rmtree(partial, ignore_errors=True)
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(partial, variables, force=True)
  # Swapped in whole: an earlier output survives a failed or killed save.
  atomic_files.replace_directory(partial, directory)


def load_variables(directory: str, template: Any | None = None) -> dict:
  """Loads variables saved by `save_variables` (onto `template`'s layout)."""
  directory = os.path.abspath(directory)
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"No variables checkpoint at {directory!r}.")
  if not os.listdir(directory):
    raise FileNotFoundError(
        f"{directory}: empty directory; expected a training workdir (with "
        "checkpoints/) or a variables checkpoint (as `convert import` writes).")
  checkpointer = ocp.StandardCheckpointer()
  if template is None:
    return _restore_or_explain(directory,
                               lambda: checkpointer.restore(directory))
  return checkpointer.restore(directory, _abstract(template))


def load_variables_or_workdir(path: str, step: int | None = None) -> dict:
  """Accepts a training workdir or a `save_variables` directory."""
  if os.path.isdir(os.path.join(path, CHECKPOINT_SUBDIR)):
    return load_train_variables(path, step)
  return load_variables(path)
