"""Training clips and evaluation sequences as the model and evaluator want them.

Training: clip n of the run's global stream = key frame + `num_refs` reference
frames (clip_sampling), one joint augmentation draw (augment), per-frame
static-shape targets (targets). Each host builds its contiguous slice of every
global batch and the slices are placed on the mesh as one global `jax.Array`,
so P hosts train on exactly the batches one host would. Every random draw is
a function of (config.seed, n), so `start_step` resumes exactly where an
uninterrupted run would be.
Evaluation: frames of each sequence in order, normalised and padded.
"""
import itertools
from typing import Any, Iterator

import jax
import numpy as np
import tensorflow as tf

from video_knet_jax.datasets import facts as dataset_facts
from video_knet_jax.datasets.kitti_step import label_codec
from video_knet_jax import common
from video_knet_jax import shapes
from video_knet_jax import sharding
from video_knet_jax.data import augment
from video_knet_jax.data import clip_pipeline
from video_knet_jax.data import clip_sampling
from video_knet_jax.data import device_targets
from video_knet_jax.data import frame_source
from video_knet_jax.data import prepare
from video_knet_jax.data import targets


prepare.hide_gpus_from_tf()


def augment_params(config) -> augment.AugmentParams:
  facts = dataset_facts.facts_for_config(config)
  return augment.params_from_config(
      config.data, ignore_label=facts.void_label,
      thing_train_ids=tuple(facts.thing_ids),
      panoptic_divisor=facts.label_divisor,
      require_shared_thing=bool(config.data.get("require_shared_thing", True)))


def target_params(config) -> targets.TargetParams:
  return device_targets.target_params(config)


def make_clip_fn(source: frame_source.FrameSource, num_frames: int, config):
  """(rows [T] int64, seed [2] int32) -> one clip's dict of [T, ...] tensors."""
  aug = augment_params(config)
  tgt = target_params(config)
  on_device = bool(config.data.get("targets_on_device", False))
  sequence_ids = tf.constant(source.sequence_ids, tf.int32)
  frame_indices = tf.constant(source.frame_indices, tf.int32)

  def clip_fn(rows, seed):
    encoded_images, encoded_labels = source.read_encoded_tf(rows)   # [T] bytes.
    images, semantic, instance = [], [], []
    for t in range(num_frames):
      images.append(source.decode_image(encoded_images[t]))
      sem, ins = label_codec.decode_rgb_label_tf(
          source.decode_label(encoded_labels[t]))
      semantic.append(sem)
      instance.append(ins)
    image, sem, ins, padding = augment.augment_clip(
        images, semantic, instance, seed, aug)
    if on_device:   # compact labels; the train step builds the targets.
      out = {common.SEMANTIC: sem, common.INSTANCE: ins}
    else:
      per_frame = [targets.frame_targets(sem[t], ins[t], tgt)
                   for t in range(num_frames)]
      out = {k: tf.stack([f[k] for f in per_frame]) for k in per_frame[0]}
    out[common.IMAGE] = image
    out[common.PADDING_MASK] = padding
    out[common.SEQUENCE_ID] = tf.gather(sequence_ids, rows[0])
    out[common.FRAME_INDEX] = tf.gather(frame_indices, rows)
    return out

  return clip_fn


def make_train_dataset(config, *, batch_size: int, start_step: int = 0,
                       process_index: int = 0,
                       process_count: int = 1) -> tf.data.Dataset:
  """This host's infinite dataset of numpy-ready batches of `batch_size` clips.

  Every host samples from the whole train split with the same sampler; host
  `process_index` of `process_count` takes its slice of each global batch of
  `process_count * batch_size` clips (clip_pipeline). Frames are read from
  disk per clip (frame_source): a host holds only the split's per-frame
  metadata in memory.
  """
  builder = prepare.ensure_dataset(config)
  source = frame_source.load_frame_source(builder, config.data.train_split)
  if not source.has_label.all():
    raise ValueError(f"config.data.train_split={config.data.train_split!r} "
                     "has frames without labels; it cannot be trained on.")
  num_refs = int(config.data.num_refs)
  sampler = clip_sampling.ClipSampler(
      source.sequence_ids, source.frame_indices, source.thing_ids,
      ref_offsets=tuple(config.data.ref_offsets), num_refs=num_refs,
      require_shared_thing=bool(config.data.get("require_shared_thing", True)),
      seed=config.seed)
  num_frames = 1 + num_refs

  def draw(n):   # numpy, counter-based: clip n is the same in any order.
    clip = sampler.clip(int(n))
    return clip.rows, clip.aug_seed

  clip_fn = make_clip_fn(source, num_frames, config)

  def make_clip(n):
    rows, seed = tf.numpy_function(draw, [n], [tf.int64, tf.int32],
                                   stateful=False)
    return clip_fn(tf.ensure_shape(rows, [num_frames]),
                   tf.ensure_shape(seed, [2]))

  return clip_pipeline.train_dataset(
      make_clip, batch_size=batch_size, start_step=start_step,
      process_index=process_index, process_count=process_count)


def make_train_iterator(config, mesh, *, start_step: int = 0,
                        process_index: int | None = None,
                        process_count: int | None = None
                        ) -> Iterator[dict[str, jax.Array]]:
  """Yields global batches (keys from common.py) sharded over 'data'.

  `process_index`/`process_count` default to JAX's; overriding them is for
  tests that emulate hosts.
  """
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  sharding.check_batch_size(config.train.batch_size, mesh)
  ds = make_train_dataset(
      config, batch_size=clip_pipeline.local_batch_size(
          config.train.batch_size, process_count),
      start_step=start_step, process_index=process_index,
      process_count=process_count)
  return clip_pipeline.device_batches(
      ds, mesh, ahead=int(config.data.get("device_prefetch", 1)))


def eval_canvas_size(config) -> tuple[int, int]:
  """`config.data.eval_size` rounded up to a multiple of size_divisor."""
  return shapes.round_up(config.data.eval_size, config.data.size_divisor)


def iterate_eval_sequences(config, split: str | None = None
                           ) -> Iterator[tuple[int, Iterator[dict[str, Any]]]]:
  """Yields (sequence_id, frames) in order; frames is a lazy iterator.

  Each frame dict: IMAGE [Ph, Pw, 3] float32 normalised and zero-padded to
  `eval_canvas_size`, PADDING_MASK [Ph, Pw] bool, FRAME_INDEX int,
  ORIGINAL_SIZE (H0, W0), and PANOPTIC [H0, W0] int32 (semantic *
  label_divisor + instance, void = void_label * label_divisor; both from the
  dataset facts, KITTI-STEP: 1000 and 255) for labelled splits only. Frames stream from
  disk: consume a sequence's frames before asking for the next sequence (as
  with itertools.groupby); reading them afterwards raises RuntimeError.
  """
  split = config.data.eval_split if split is None else split
  builder = prepare.ensure_dataset(config)
  source = frame_source.open_data_source(builder, split)
  features = builder.info.features
  label_divisor = dataset_facts.facts_for_config(config).label_divisor
  mean = tf.constant(config.data.mean, tf.float32)
  std = tf.constant(config.data.std, tf.float32)

  def read(row):   # numpy: one stored example, PNGs still encoded.
    ex = source[int(row)]
    return (ex[frame_source.IMAGE_FEATURE], ex[frame_source.LABEL_FEATURE],
            np.bool_(ex["has_label"]), np.int32(ex["sequence_id"]),
            np.int32(ex["frame_index"]), np.bytes_(ex["file_name"]))

  def prepare_frame(row):
    image, label, has_label, seq, frame, name = tf.numpy_function(
        read, [row], [tf.string, tf.string, tf.bool, tf.int32, tf.int32,
                      tf.string], stateful=False)
    image, label, has_label, seq, frame, name = (
        tf.ensure_shape(x, []) for x in (image, label, has_label, seq, frame, name))
    image = features[frame_source.IMAGE_FEATURE].decode_example(image)
    sem, ins = label_codec.decode_rgb_label_tf(
        features[frame_source.LABEL_FEATURE].decode_example(label))
    return {
        "image": (tf.cast(image, tf.float32) - mean) / std,
        "panoptic": sem * label_divisor + ins,
        "has_label": has_label,
        "sequence_id": seq,
        "frame_index": frame,
        "file_name": name,
    }

  ds = tf.data.Dataset.range(len(source))
  ds = ds.map(prepare_frame, num_parallel_calls=tf.data.AUTOTUNE,
              deterministic=True).prefetch(2)
  canvas = eval_canvas_size(config)
  seen = set()
  for seq, examples in itertools.groupby(ds.as_numpy_iterator(),
                                         lambda ex: int(ex["sequence_id"])):
    if seq in seen:
      raise ValueError(f"Split {split!r}: frames of sequence {seq} are not "
                       "contiguous; rebuild the data set (disable_shuffling).")
    seen.add(seq)
    moved_on = []
    yield seq, _sequence_frames(examples, seq, canvas, split, moved_on)
    moved_on.append(True)   # groupby skips what was not read of `seq`.


def _sequence_frames(examples, seq, canvas, split, moved_on):
  """The eval frames of one sequence, in order; reading them after the next
  sequence was asked for is an error (not a silently empty sequence)."""
  previous = -1
  for ex in examples:
    if moved_on:
      break
    frame = int(ex["frame_index"])
    if frame <= previous:
      raise ValueError(f"Split {split!r}: frame {frame} of sequence {seq} "
                       f"follows frame {previous}.")
    previous = frame
    yield _eval_frame(ex, canvas)
  if moved_on:
    raise RuntimeError(
        f"Frames of sequence {seq} were read after the next sequence was "
        "requested; consume each sequence's frames first.")


def _eval_frame(ex, canvas):
  """One stored example -> the eval frame dict, padded to `canvas`."""
  h0, w0 = ex["image"].shape[:2]
  if h0 > canvas[0] or w0 > canvas[1]:
    raise ValueError(
        f"{ex['file_name'].decode()} is {h0}x{w0}, larger than the eval "
        f"canvas {canvas}; raise config.data.eval_size.")
  image = np.zeros(canvas + (3,), np.float32)
  image[:h0, :w0] = ex["image"]
  padding = np.ones(canvas, bool)
  padding[:h0, :w0] = False
  out = {common.IMAGE: image, common.PADDING_MASK: padding,
         common.FRAME_INDEX: int(ex["frame_index"]),
         common.ORIGINAL_SIZE: (h0, w0),
         common.FILE_NAME: ex["file_name"].decode()}
  if ex["has_label"]:
    out[common.PANOPTIC] = ex["panoptic"].astype(np.int32)
  return out
