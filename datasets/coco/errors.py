"""Errors raised while reading a COCO 2017 tree; each names the file and the entry.

They extend the shared ones of `datasets.errors` (JSON, categories, ids, PNGs),
so callers may catch either.
"""
from video_knet_jax.datasets import errors

BadJsonError = errors.BadJsonError                   # JSON missing, unreadable, or a field missing.
UnknownCategoryError = errors.UnknownCategoryError   # category_id not in the COCO table.
IdCollisionError = errors.IdCollisionError           # an image / annotation / segment id twice.
BadPngError = errors.BadPngError                     # a panoptic PNG that does not decode.
MissingSplitError = errors.MissingSplitError         # split absent or of the wrong size.


class MissingImageError(errors.MissingLabelError):
  """An image the JSON lists is not on disk (or a PNG its annotation names)."""


class BadImageError(errors.StepFormatError):
  """An image does not decode, or its size disagrees with its JSON entry."""


class UnknownImageError(errors.BadJsonError):
  """An annotation names an image_id that the JSON's `images` list lacks."""


class BadSegmentationError(errors.StepFormatError):
  """A segmentation is not a valid polygon list or RLE of its image's size."""
