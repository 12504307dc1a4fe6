"""What every per-frame TFDS builder here shares: facts, info, manual dir.

Each data set's `Builder` subclasses `FrameBuilder` and states what differs:
its VERSION, configs (whose `facts` field holds the data set's facts record),
DESCRIPTION, HOMEPAGE, features, and how it finds and reads its frames.
`FrameBuilder` leaves `_split_generators` and `_generate_examples` abstract,
so TFDS does not register it as a data set of its own.
"""
from typing import ClassVar

import tensorflow_datasets as tfds
from etils import epath

from video_knet_jax.datasets import errors
from video_knet_jax.datasets import frame_examples


class FrameBuilder(tfds.core.GeneratorBasedBuilder):
  """One example per frame, stored in (sequence, frame) order."""

  DESCRIPTION: ClassVar[str]   # may name the facts record as {name}.
  HOMEPAGE: ClassVar[str]
  IMAGE_FORMAT: ClassVar[str] = "png"   # of frame_examples.features().
  # Raised (with TFDS's message) when no manual dir was given.
  MANUAL_DIR_ERROR: ClassVar[type[Exception]] = errors.MissingManualDirError

  @property
  def facts(self):
    return self.builder_config.facts

  def _features(self) -> tfds.features.FeaturesDict:
    """The per-frame features; the panoptic layout unless overridden."""
    return frame_examples.features(self.IMAGE_FORMAT)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=self.DESCRIPTION.format(name=self.facts.name),
        features=self._features(),
        homepage=self.HOMEPAGE,
        disable_shuffling=True,   # keys keep (sequence, frame) order.
    )

  def _manual_dir(self, dl_manager: tfds.download.DownloadManager
                  ) -> epath.Path:
    """TFDS's manual dir, as MANUAL_DIR_ERROR when it is absent."""
    try:
      return dl_manager.manual_dir
    except AssertionError as e:  # TFDS's message names the dir and how-to.
      raise self.MANUAL_DIR_ERROR(str(e)) from e
