"""Random access to the frames of one (sub-)split, read from disk by row.

Clips need frames `key + offset` of the same sequence, which a sequential
reader cannot fetch. Data sets are stored as ArrayRecord files (see
prepare.py), which TFDS reads by example index (`builder.as_data_source`).
Only the per-frame metadata the clip sampler needs (sequence, frame, labelled,
thing ids: a few bytes per frame) is held in memory; a clip's encoded image
and label PNGs are read from disk when tf.data asks for it and decoded in the
graph. Host memory therefore does not grow with the split's pixels.
Row r = example r of the split string (the whole train split for training),
the order the frames were written in: (sequence, frame).
"""
import dataclasses
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

IMAGE_FEATURE = "image"
LABEL_FEATURE = "panoptic_label"
METADATA_FEATURES = ("sequence_id", "frame_index", "has_label", "thing_ids")
_METADATA_CHUNK = 64   # examples read at once while collecting the metadata.


@dataclasses.dataclass
class FrameSource:
  """Metadata (numpy, for sampling) and encoded frames (on disk, by row)."""
  sequence_ids: np.ndarray      # [N] int32.
  frame_indices: np.ndarray     # [N] int32.
  has_label: np.ndarray         # [N] bool.
  thing_ids: list[np.ndarray]   # N x [K] int32 panoptic ids of thing instances.
  source: Any                   # tfds data source: row -> example (PNG bytes).
  features: tfds.features.FeaturesDict

  def __len__(self) -> int:
    return len(self.sequence_ids)

  def read_encoded(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[T] int rows -> ([T] encoded images, [T] encoded labels), numpy bytes."""
    examples = [self.source[int(r)] for r in np.asarray(rows).reshape(-1)]
    return (np.asarray([ex[IMAGE_FEATURE] for ex in examples], object),
            np.asarray([ex[LABEL_FEATURE] for ex in examples], object))

  def read_encoded_tf(self, rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The same inside a tf.data graph: [T] int64 -> two [T] tf.string."""
    images, labels = tf.numpy_function(self.read_encoded, [rows],
                                       [tf.string, tf.string], stateful=False)
    return (tf.ensure_shape(images, rows.shape),
            tf.ensure_shape(labels, rows.shape))

  def decode_image(self, encoded: tf.Tensor) -> tf.Tensor:
    """Scalar tf.string -> [H, W, 3] uint8."""
    return self.features[IMAGE_FEATURE].decode_example(encoded)

  def decode_label(self, encoded: tf.Tensor) -> tf.Tensor:
    """Scalar tf.string -> [H, W, 3] uint8 RGB label (the data set's codec)."""
    return self.features[LABEL_FEATURE].decode_example(encoded)


def open_data_source(builder: tfds.core.DatasetBuilder, split: str,
                     encoded=(IMAGE_FEATURE, LABEL_FEATURE)):
  """TFDS's random-access source of `split` (any TFDS split string): row ->
  example dict, the `encoded` features left as encoded PNG bytes."""
  file_format = builder.info.file_format
  if file_format != tfds.core.FileFormat.ARRAY_RECORD:
    raise ValueError(
        f"{builder.data_dir} is stored as {file_format}, not ArrayRecord; "
        "random access needs ArrayRecord. Delete that directory and rebuild it "
        "(video_knet_jax.data.prepare builds ArrayRecord).")
  source = builder.as_data_source(
      split=split, decoders={name: tfds.decode.SkipDecoding() for name in encoded})
  if not len(source):
    raise ValueError(f"Split {split!r} of {builder.info.full_name} is empty.")
  return source


def load_frame_source(builder: tfds.core.DatasetBuilder,
                      split: str) -> FrameSource:
  """Opens `split` for random access.

  Reads every example once to collect the metadata; only the metadata stays.
  """
  source = open_data_source(builder, split)
  columns = {name: [] for name in METADATA_FEATURES}
  for start in range(0, len(source), _METADATA_CHUNK):   # parallel reads.
    rows = range(start, min(start + _METADATA_CHUNK, len(source)))
    for example in source.__getitems__(list(rows)):
      for name in METADATA_FEATURES:
        columns[name].append(example[name])
  return FrameSource(
      sequence_ids=np.asarray(columns["sequence_id"], np.int32),
      frame_indices=np.asarray(columns["frame_index"], np.int32),
      has_label=np.asarray(columns["has_label"], bool),
      thing_ids=[np.asarray(t, np.int32) for t in columns["thing_ids"]],
      source=source, features=builder.info.features)
