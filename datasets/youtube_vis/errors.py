"""Errors raised while reading a YouTube-VIS tree; each names the file and entry."""


class YouTubeVisFormatError(ValueError):
  """Base class: the files on disk do not match the YouTube-VIS format."""


class MissingAnnotationsError(YouTubeVisFormatError):
  """The annotation JSON is absent or lacks a required field."""


class MissingFramesError(YouTubeVisFormatError):
  """A video entry of the JSON names frames that are not on disk."""


class BadSegmentationError(YouTubeVisFormatError):
  """A segmentation has the wrong size, frame count or encoding."""


class UnknownCategoryError(YouTubeVisFormatError):
  """An annotation's category_id is not one of the data set's categories."""


class BadImageError(YouTubeVisFormatError):
  """A frame cannot be decoded or its size disagrees with its video entry."""
