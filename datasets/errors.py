"""Errors raised while reading a data set's on-disk tree; each names the path.

The STEP-format errors of `datasets.kitti_step.errors` are the base; the
datasets that ship COCO-panoptic JSON (Cityscapes-VPS, VIPSeg) add the
JSON-specific cases below.
"""
from video_knet_jax.datasets.kitti_step.errors import BadLabelValueError
from video_knet_jax.datasets.kitti_step.errors import BadPngError
from video_knet_jax.datasets.kitti_step.errors import MissingLabelError
from video_knet_jax.datasets.kitti_step.errors import MissingManualDirError
from video_knet_jax.datasets.kitti_step.errors import MissingSplitError
from video_knet_jax.datasets.kitti_step.errors import StepFormatError

__all__ = [
    "BadJsonError", "BadLabelValueError", "BadPngError", "IdCollisionError",
    "MissingLabelError", "MissingManualDirError", "MissingSplitError",
    "StepFormatError", "UnknownCategoryError",
]


class BadJsonError(StepFormatError):
  """A JSON file is missing, unreadable, or lacks a field it must have."""


class UnknownCategoryError(BadLabelValueError):
  """A segment's category_id is not one of the data set's categories."""


class IdCollisionError(StepFormatError):
  """Two segments share an id (in one JSON entry, or one track changes class)."""
