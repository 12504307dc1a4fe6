"""VSPW mask values: raw PNG values <-> model train ids.

Raw: 0 = others, 1..124 = classes, 255 = void. Train ids: 0..123, 255 = ignore
(both "others" and void). The builder stores raw masks unchanged (mVC compares
raw values), so this is the one place that shifts them.
"""
import numpy as np
import tensorflow as tf

from video_knet_jax.datasets.vspw import facts as facts_lib

NUM_CLASSES = facts_lib.VSPW.num_classes
VOID = facts_lib.VOID_LABEL


def valid_raw_values() -> frozenset[int]:
  return frozenset(range(NUM_CLASSES + 1)) | {VOID}


def raw_to_train_ids(raw: np.ndarray) -> np.ndarray:
  """[...] uint8 raw mask -> [...] uint8 train ids (0 and 255 -> 255, v -> v-1)."""
  raw = np.asarray(raw).astype(np.int32)
  return np.where((raw >= 1) & (raw <= NUM_CLASSES), raw - 1, VOID).astype(np.uint8)


def train_ids_to_raw(train_ids: np.ndarray) -> np.ndarray:
  """[...] predicted train ids 0..123 -> raw VSPW values 1..124 (255 stays 255)."""
  ids = np.asarray(train_ids).astype(np.int32)
  if ids.size and (ids.min() < 0 or (ids.max() >= NUM_CLASSES and ids.max() != VOID)):
    bad = np.unique(ids[(ids < 0) | ((ids >= NUM_CLASSES) & (ids != VOID))])
    raise ValueError(f"Train ids {bad[:10].tolist()} are outside 0..{NUM_CLASSES - 1}.")
  return np.where(ids == VOID, VOID, ids + 1).astype(np.uint8)


def tf_raw_to_train_ids(raw: tf.Tensor) -> tf.Tensor:
  """raw_to_train_ids inside tf.data."""
  raw = tf.cast(raw, tf.int32)
  keep = (raw >= 1) & (raw <= NUM_CLASSES)
  return tf.cast(tf.where(keep, raw - 1, VOID), tf.uint8)
