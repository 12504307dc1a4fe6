"""Errors raised while reading a VSPW tree; each names the offending path.

They subclass the KITTI-STEP builder's errors of the same meaning, so code
that catches "a label is missing" or "a label value is wrong" catches both.
"""
from video_knet_jax.datasets.kitti_step import errors as step_errors


class VspwFormatError(step_errors.StepFormatError):
  """Base class: the files on disk do not match the VSPW layout."""


class MissingManualDirError(VspwFormatError, step_errors.MissingManualDirError):
  """The manual dir is missing, or holds no split files."""


class MissingVideoError(VspwFormatError, step_errors.MissingSplitError):
  """A video named in a split file has no `data/<video>/origin/` folder."""


class MissingMaskError(VspwFormatError, step_errors.MissingLabelError):
  """A frame of a labelled split has no mask PNG, or a mask has no frame."""


class BadMaskError(VspwFormatError, step_errors.BadPngError):
  """A mask or frame cannot be decoded, is not single-channel, or its size differs."""


class BadMaskValueError(VspwFormatError, step_errors.BadLabelValueError):
  """A mask holds a value outside 0..124 and 255."""
