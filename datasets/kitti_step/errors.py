"""Errors raised while reading a STEP-format tree; each names the offending path."""


class StepFormatError(ValueError):
  """Base class: the files on disk do not match the KITTI-STEP format."""


class MissingManualDirError(StepFormatError):
  """The manual directory is missing, empty, or in neither known layout."""


class MissingSplitError(StepFormatError):
  """A split directory (or one of its sequences) is absent or incomplete."""


class BadPngError(StepFormatError):
  """A PNG cannot be decoded, or has the wrong mode or size."""


class MissingLabelError(StepFormatError):
  """An image of a labelled split has no panoptic label (or vice versa)."""


class BadLabelValueError(StepFormatError):
  """A label PNG holds a semantic id outside {0..num_classes-1, void}."""
