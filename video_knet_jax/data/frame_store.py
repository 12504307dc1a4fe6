"""Random access to the encoded frames of one (sub-)split, keyed by row.

Clips need frames `key + offset` of the same sequence, which a sequential
TFRecord reader cannot fetch. This host's frames are read once, still
PNG-encoded (decoding happens per clip in tf.data), into a TF hash table, so
lookups run inside the graph without Python. Memory: the encoded size of this
host's share of the split (KITTI-STEP train: about 3.5 GB / process_count).
"""
import dataclasses

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

IMAGE_FEATURE = "image"
LABEL_FEATURE = "panoptic_label"


@dataclasses.dataclass
class FrameStore:
  """Metadata (numpy, for sampling) and encoded frames (TF tables, by row)."""
  sequence_ids: np.ndarray      # [N] int32.
  frame_indices: np.ndarray     # [N] int32.
  has_label: np.ndarray         # [N] bool.
  thing_ids: list[np.ndarray]   # N x [K] int32 panoptic ids of person/car.
  images: tf.lookup.StaticHashTable   # row (int64) -> encoded image.
  labels: tf.lookup.StaticHashTable   # row (int64) -> encoded RGB label.
  features: tfds.features.FeaturesDict

  def __len__(self) -> int:
    return len(self.sequence_ids)

  def row_of(self) -> dict[tuple[int, int], int]:
    """(sequence_id, frame_index) -> row."""
    return {(int(s), int(f)): i for i, (s, f) in
            enumerate(zip(self.sequence_ids, self.frame_indices))}

  def decode_image(self, row: tf.Tensor) -> tf.Tensor:
    """[H, W, 3] uint8 for a scalar int64 row."""
    return self.features[IMAGE_FEATURE].decode_example(self.images.lookup(row))

  def decode_label(self, row: tf.Tensor) -> tf.Tensor:
    """[H, W, 3] uint8 RGB label (see datasets.kitti_step.label_codec)."""
    return self.features[LABEL_FEATURE].decode_example(self.labels.lookup(row))


def load_frame_store(builder: tfds.core.DatasetBuilder, split: str) -> FrameStore:
  """Reads `split` (any TFDS split string, e.g. an even_splits share)."""
  ds = builder.as_dataset(
      split=split, shuffle_files=False,
      decoders={IMAGE_FEATURE: tfds.decode.SkipDecoding(),
                LABEL_FEATURE: tfds.decode.SkipDecoding()},
      read_config=tfds.ReadConfig(interleave_cycle_length=1))
  seq, frame, has_label, things, images, labels = [], [], [], [], [], []
  for ex in tfds.as_numpy(ds):
    seq.append(ex["sequence_id"])
    frame.append(ex["frame_index"])
    has_label.append(ex["has_label"])
    things.append(np.asarray(ex["thing_ids"], np.int32))
    images.append(ex[IMAGE_FEATURE])
    labels.append(ex[LABEL_FEATURE])
  if not seq:
    raise ValueError(f"Split {split!r} of {builder.info.full_name} is empty.")
  rows = tf.range(len(seq), dtype=tf.int64)

  def table(values):
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            rows, tf.constant(values, tf.string)), default_value="")

  return FrameStore(
      sequence_ids=np.asarray(seq, np.int32),
      frame_indices=np.asarray(frame, np.int32),
      has_label=np.asarray(has_label, bool),
      thing_ids=things,
      images=table(images), labels=table(labels),
      features=builder.info.features)
