"""The task registry: `config.task` names a sibling module of this package.

  panoptic   Video K-Net (video panoptic segmentation) and, with
             `config.model.temporal.enabled=False`, the image K-Net.
  semantic   semantic K-Net with kernel fusion (video semantic segmentation, VSPW).
  instance   the clip-level KNetTrack (video instance segmentation, YouTube-VIS).
  image_instance  the image K-Net on COCO instances (mask AP; the
             pretraining of `instance`).

One trainer (`video_knet_jax.train`), one evaluation driver
(`video_knet_jax.eval`) and one clip pipeline core (`video_knet_jax.data`)
serve every task; what differs lives in the task's module, which defines the
names in `base.REQUIRED` (docs/ADDING_A_TASK.md). A new task is a new module
here plus a config that sets `config.task` to its name.
"""
import importlib
import pkgutil
import types
import warnings

from absl import logging

from video_knet_jax.tasks import base

FIELD = "task"
DEFAULT = "panoptic"
# Modules of this package that are not tasks.
_NOT_TASKS = ("base",)


def names() -> list[str]:
  """The task modules of this package."""
  return sorted(m.name for m in pkgutil.iter_modules(__path__)
                if m.name not in _NOT_TASKS and not m.name.endswith("_eval"))


# The switches before `config.task` (kept one more release): field, value -> task.
_LEGACY = {("task", "semantic"): "semantic", ("family", "knet_track"): "instance"}
_warned = set()


def name_of(config) -> str:
  """`config.task`; a config without it is panoptic unless it sets an old switch.

  `config.model.task='semantic'` and `config.model.family='knet_track'` (the
  switches before `config.task`) still select their task, with a deprecation
  warning; they are removed in the next release.
  """
  model = config.get("model") or {}
  switch, legacy = next(((f"config.model.{field}={value!r}", task)
                         for (field, value), task in _LEGACY.items()
                         if model.get(field, None) == value), (None, None))
  name = config.get(FIELD, None)
  if name is None:
    if legacy is None:
      return DEFAULT
    if switch not in _warned:
      _warned.add(switch)
      message = (f"{switch} is deprecated and will be removed in the next "
                 f"release: set config.task={legacy!r} instead.")
      warnings.warn(message, DeprecationWarning, stacklevel=2)
      logging.warning(message)
    return legacy
  if legacy is not None and legacy != name:
    raise ValueError(f"config.task={name!r} contradicts the old switch that "
                     f"selects {legacy!r} (config.model.task / "
                     "config.model.family); remove the old switch.")
  return name


def get(config_or_name) -> types.ModuleType:
  """The task module of a config (or of a task name), checked for the protocol."""
  name = (config_or_name if isinstance(config_or_name, str)
          else name_of(config_or_name))
  known = names()
  if name not in known:
    raise ValueError(f"config.task={name!r}; expected one of {known}.")
  module = importlib.import_module(f"{__name__}.{name}")
  base.check_protocol(module)
  return module
