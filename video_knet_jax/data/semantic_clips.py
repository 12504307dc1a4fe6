"""Training clips and evaluation videos of a VSPW-format data set (semantic labels only).

Reuses the shared pieces of the panoptic pipeline: ArrayRecord random access
(`frame_source.open_data_source`), the counter-based `ClipSampler` (key frame +
one reference at an offset from `config.data.ref_offsets`) and `augment_clip`
(one draw for the whole clip). Only the label differs: VSPW masks are
single-channel raw values, shifted to train ids by `datasets.vspw.label_codec`.

Train batch: image [B, 2, H, W, 3] float32 (normalised; key, reference),
semantic [B, 2, H, W] int32 (255 = ignored / padding).
"""
import dataclasses
import io
from typing import Any, Iterator

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image as PILImage

from video_knet_jax.datasets.vspw import label_codec
from video_knet_jax import common
from video_knet_jax.data import augment
from video_knet_jax.data import clip_pipeline
from video_knet_jax.data import clip_sampling
from video_knet_jax.data import frame_source
from video_knet_jax.data import prepare

IMAGE, MASK = "image", "mask"


def open_split(builder: tfds.core.DatasetBuilder, split: str):
  """(random-access source, sequence ids [N], frame indices [N]) of a split."""
  source = frame_source.open_data_source(builder, split, encoded=(IMAGE, MASK))
  seq = np.asarray([source[r]["sequence_id"] for r in range(len(source))], np.int32)
  frames = np.asarray([source[r]["frame_index"] for r in range(len(source))], np.int32)
  return source, seq, frames


def augment_params(config) -> augment.AugmentParams:
  return augment.params_from_config(config.data, ignore_label=config.data.ignore_label)


def make_train_dataset(config, *, batch_size: int, start_step: int = 0,
                       process_index: int = 0,
                       process_count: int = 1) -> tf.data.Dataset:
  """An infinite dataset of training clips (this host's `batch_size` per step).

  One global clip stream over the whole split; host p takes its slice of
  every global batch (clip_pipeline).
  """
  builder = prepare.ensure_dataset(config)
  source, seq, frames = open_split(builder, config.data.train_split)
  sampler = clip_sampling.ClipSampler(
      seq, frames, [np.zeros((0,), np.int32)] * len(seq), ref_offsets=config.data.ref_offsets,
      num_refs=1, require_shared_thing=False, seed=config.seed)
  params = augment_params(config)
  features = builder.info.features

  def draw(n):   # n: the global clip number.
    clip = sampler.clip(int(n))
    return clip.rows, clip.aug_seed

  def read(rows):
    examples = [source[int(r)] for r in rows]
    return (np.asarray([ex[IMAGE] for ex in examples], object),
            np.asarray([ex[MASK] for ex in examples], object))

  def make_clip(n):
    rows, seed = tf.numpy_function(draw, [n], [tf.int64, tf.int32], stateful=False)
    images, masks = tf.numpy_function(read, [rows], [tf.string, tf.string], stateful=False)
    frames_ = [features[IMAGE].decode_example(images[i]) for i in range(2)]
    labels = [tf.cast(label_codec.tf_raw_to_train_ids(
        features[MASK].decode_example(masks[i])[..., 0]), tf.int32) for i in range(2)]
    image, semantic, _, _ = augment.augment_clip(
        frames_, labels, [tf.zeros_like(l) for l in labels], tf.ensure_shape(seed, [2]), params)
    return {common.IMAGE: image, common.SEMANTIC: semantic}

  return clip_pipeline.train_dataset(
      make_clip, batch_size=batch_size, start_step=start_step,
      process_index=process_index, process_count=process_count)


@dataclasses.dataclass
class EvalVideo:
  """One video of the eval split, frames in order, decoded one at a time."""
  name: str
  rows: np.ndarray           # [T] rows of the split's data source.
  source: Any                # the split's data source (encoded PNGs).

  def __len__(self) -> int:
    return len(self.rows)

  def frames(self) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
    """(frame name stem, image [H, W, 3] uint8, raw mask [H, W] uint8, or
    None for a frame without a label (the test split)) per frame: one frame
    in memory at a time, whatever the video's length."""
    for row in self.rows:
      ex = self.source[int(row)]
      yield (_stem(ex["file_name"]),
             np.asarray(PILImage.open(io.BytesIO(ex[IMAGE])).convert("RGB")),
             np.asarray(PILImage.open(io.BytesIO(ex[MASK])))
             if ex["has_label"] else None)


def iterate_eval_videos(builder, split: str, max_videos: int | None = None
                        ) -> Iterator[EvalVideo]:
  """Videos of `split` in split-file order (decoded with PIL, frame by frame)."""
  source, seq, _ = open_split(builder, split)
  for n, video_id in enumerate(dict.fromkeys(seq.tolist())):
    if max_videos is not None and n >= max_videos:
      return
    rows = np.flatnonzero(seq == video_id)
    name = source[int(rows[0])]["video"]
    yield EvalVideo(name=name.decode() if isinstance(name, bytes) else str(name),
                    rows=rows, source=source)


def _stem(file_name) -> str:
  name = file_name.decode() if isinstance(file_name, bytes) else str(file_name)
  return name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
