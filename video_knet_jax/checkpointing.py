"""Checkpoints: the only module that imports Orbax.

Training state is saved asynchronously by a `CheckpointManager` under
`<workdir>/checkpoints/<step>/`; converted or exported model variables
(`{'params': ..., 'batch_stats': ...}`) are saved as a plain Orbax tree.
Keeping every Orbax call here makes an API move a one-file change.
"""
import os
from typing import Any

import jax
import orbax.checkpoint as ocp

CHECKPOINT_SUBDIR = "checkpoints"


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
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=save_every_steps,
        enable_async_checkpointing=True,
        preservation_policy=ocp.checkpoint_managers.LatestN(keep),
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


def load_train_variables(workdir: str, step: int | None = None) -> dict:
  """Model variables (`params`, `batch_stats`) of a training checkpoint.

  Reads without the optimizer's structure, so evaluation and conversion need
  no train state template.
  """
  path = find_train_checkpoint(workdir, step)
  restored = ocp.StandardCheckpointer().restore(path)
  return {"params": restored["params"],
          "batch_stats": restored.get("batch_stats", {})}


def save_variables(directory: str, variables: dict) -> None:
  """Saves model variables as a standalone Orbax tree (blocking)."""
  directory = os.path.abspath(directory)
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(directory, variables, force=True)


def load_variables(directory: str, template: Any | None = None) -> dict:
  """Loads variables saved by `save_variables` (onto `template`'s layout)."""
  directory = os.path.abspath(directory)
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"No variables checkpoint at {directory!r}.")
  checkpointer = ocp.StandardCheckpointer()
  if template is None:
    return checkpointer.restore(directory)
  return checkpointer.restore(directory, _abstract(template))


def load_variables_or_workdir(path: str, step: int | None = None) -> dict:
  """Accepts a training workdir or a `save_variables` directory."""
  if os.path.isdir(os.path.join(path, CHECKPOINT_SUBDIR)):
    return load_train_variables(path, step)
  return load_variables(path)
