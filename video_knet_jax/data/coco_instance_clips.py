"""Training batches of the COCO instance task (the image K-Net on COCO 2017 instances).

Clip n of the run's global stream (clip_pipeline) is one image: drawn with
numpy from (config.seed, n) among the train split's images that have a
non-crowd instance (mmdet's `filter_empty_gt`), its RLE masks decoded
(pycocotools), then the ms-3x resize or large-scale jitter, flip,
normalisation and padding of `data/coco_augment.py` in the graph. Crowd
annotations are not trained on (K-Net's COCO recipes ignore them); instances
with no pixel left after a crop are dropped; at most `config.data.max_instances`
are kept (the largest). The targets are those of the panoptic task's image
K-Net with no stuff classes (keys from common.py, a T axis of 1), so the same
image K-Net loss trains it.
"""
import io

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from video_knet_jax import common
from video_knet_jax.data import clip_pipeline
from video_knet_jax.data import coco_augment
from video_knet_jax.data import prepare
from video_knet_jax.datasets.coco import annotations

prepare.hide_gpus_from_tf()


def open_source(builder, split: str):
  """The split as a random-access source with the JPEG bytes left encoded."""
  return builder.as_data_source(split=split,
                                decoders={"image": tfds.decode.SkipDecoding()})


def trainable_images(source) -> np.ndarray:
  """Indices of the examples with at least one non-crowd instance."""
  keep = [i for i in range(len(source))
          if np.any(~np.asarray(source[i]["is_crowd"], bool))]
  if not keep:
    raise ValueError("The COCO train split has no image with a non-crowd "
                     "instance; nothing to train on.")
  return np.asarray(keep, np.int64)


def read_example(source, indices: np.ndarray, seed: int, n: int):
  """Clip n's image: (JPEG bytes, masks [N, H, W] uint8, labels [N] int32,
  augmentation seed [2] int32), crowd annotations left out."""
  rng = np.random.default_rng([seed, n])
  ex = source[int(indices[rng.integers(len(indices))])]
  crowd = np.asarray(ex["is_crowd"], bool)
  rles = [r for r, c in zip(ex["masks_rle"], crowd) if not c]
  height, width = _rle_size(ex)
  masks = annotations.decode_masks(rles, height, width)
  labels = np.asarray(ex["labels"], np.int32)[~crowd]
  aug_seed = rng.integers(0, 2**31 - 1, size=2).astype(np.int32)
  return bytes(ex["image"]), masks.astype(np.uint8), labels, aug_seed


def _rle_size(ex) -> tuple[int, int]:
  """(H, W) of an example from its JPEG header (the pixels stay encoded)."""
  width, height = Image.open(io.BytesIO(bytes(ex["image"]))).size
  return height, width


def targets(masks: tf.Tensor, labels: tf.Tensor, keep: tf.Tensor,
            max_instances: int) -> dict[str, tf.Tensor]:
  """[N, H, W] masks and [N] labels of one augmented image -> padded thing
  targets: the largest `max_instances` of those `keep` marks."""
  masks = tf.boolean_mask(masks, keep)
  labels = tf.boolean_mask(labels, keep)
  areas = tf.reduce_sum(tf.cast(masks, tf.int32), axis=[1, 2])
  k = tf.minimum(tf.size(areas), max_instances)
  _, largest = tf.math.top_k(areas, k=k)
  largest = tf.sort(largest)                      # annotation order.
  masks = tf.gather(masks, largest)
  labels = tf.gather(labels, largest)
  pad = max_instances - k
  return {
      common.THING_MASKS: tf.pad(masks, [[0, pad], [0, 0], [0, 0]]),
      common.THING_CLASSES: tf.pad(labels, [[0, pad]]),
      common.THING_VALID: tf.range(max_instances) < k,
  }


def make_train_dataset(config, *, batch_size: int, start_step: int = 0,
                       process_index: int = 0,
                       process_count: int = 1) -> tf.data.Dataset:
  """This host's batches of `batch_size` images from step `start_step` on
  (the task protocol's `train_batches`)."""
  source = open_source(prepare.ensure_dataset(config), config.data.train_split)
  indices = trainable_images(source)
  params = coco_augment.CocoAugmentParams.from_config(config.data)
  max_instances = int(config.data.max_instances)
  canvas = tuple(config.data.canvas)
  shapes = {common.IMAGE: (*canvas, 3), common.PADDING_MASK: canvas,
            common.THING_MASKS: (max_instances, *canvas),
            common.THING_CLASSES: (max_instances,),
            common.THING_VALID: (max_instances,),
            common.STUFF_MASKS: (0, *canvas), common.STUFF_VALID: (0,)}

  def make_clip(n):
    image, masks, labels, seed = tf.numpy_function(
        lambda i: read_example(source, indices, config.seed, int(i)), [n],
        [tf.string, tf.uint8, tf.int32, tf.int32], stateful=False)
    image = tf.io.decode_jpeg(tf.ensure_shape(image, []), channels=3)
    masks = tf.ensure_shape(masks, [None, None, None])
    out = coco_augment.augment_image(image, masks, tf.ensure_shape(seed, [2]),
                                     params)
    clip = targets(out["masks"], tf.ensure_shape(labels, [None]), out["keep"],
                   max_instances)
    clip[common.IMAGE] = out["image"]
    clip[common.PADDING_MASK] = tf.logical_not(out["valid"])
    clip[common.STUFF_MASKS] = tf.zeros((0, *canvas), tf.uint8)
    clip[common.STUFF_VALID] = tf.zeros((0,), tf.bool)
    # One frame: the image K-Net's loss reads frame 0 of a T = 1 clip.
    return {k: tf.ensure_shape(v[None], (1, *shapes[k]))
            for k, v in clip.items()}

  return clip_pipeline.train_dataset(
      make_clip, batch_size=batch_size, start_step=start_step,
      process_index=process_index, process_count=process_count)
