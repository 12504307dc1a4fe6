"""Training clips and whole videos from the YouTube-VIS builder.

Random access through `builder.as_data_source(split)` (ArrayRecord). Examples
are stored in (video, frame) order, so a video is a run of `num_frames`
consecutive indices.

Training clip (extensions 3.6): `clip_length` consecutive frames centred on
a key frame at least clip_length // 2 from either end (shorter videos are
never used); a key frame without a (non-crowd) instance is re-drawn. One
short side from `short_sides` for the clip, sized as the original's
`SeqResize(img_scale=(short, 1e6), keep_ratio=True)` (mmcv's rule and
rounding) and resized with OpenCV's filters (bilinear images, nearest
masks; data/keep_ratio_resize.py), one shared horizontal flip, ImageNet
normalisation, padding to the static canvas `config.data.canvas` (H, W).
The original pads each batch to its largest clip instead; a clip that would
not fit the canvas (a portrait video at a large short side) is scaled down
to fit it. The clip's instances (crowd excluded) fill `max_instances` slots
in order of first appearance; extra instances are dropped.
"""
from typing import Any

import numpy as np
import tensorflow as tf

from video_knet_jax import common
from video_knet_jax.data import clip_pipeline
from video_knet_jax.data import keep_ratio_resize

IMAGE = "image"   # the image feature of a stored example.


def video_spans(source) -> list[tuple[int, int, int]]:
  """(video_id, first index, num_frames) of every video in a data source."""
  spans, index = [], 0
  while index < len(source):
    ex = source[index]
    n = int(ex["num_frames"])
    if int(ex["frame_index"]) != 0:
      raise ValueError(f"Example {index} is frame {ex['frame_index']} of video "
                       f"{ex['video_id']}; expected a video's first frame.")
    spans.append((int(ex["video_id"]), index, n))
    index += n
  return spans


class VideoFrames:
  """One video's frames, decoded only when indexed: memory does not grow
  with the video's length. `shape` is [T, H, W, 3]; `video[a:b]` stacks
  frames a..b-1 (uint8), `video[t]` is one frame."""

  def __init__(self, source, span):
    self._source, (_, self._first, self._length) = source, span
    self.shape = (self._length, *self[0].shape)

  def __len__(self) -> int:
    return self._length

  def example(self, t: int) -> dict[str, Any]:
    if not 0 <= t < self._length:
      raise IndexError(f"frame {t} of a {self._length}-frame video")
    return self._source[self._first + t]

  def __getitem__(self, index):
    if isinstance(index, slice):
      return np.stack([self.example(t)[IMAGE]
                       for t in range(*index.indices(self._length))])
    return self.example(int(index))[IMAGE]


def clip_size(height: int, width: int, short: float, canvas) -> tuple[int, int]:
  """Resized (h, w) of a clip: mmcv's rescale_size for img_scale (short, 1e6),
  its factor capped so that the clip fits the canvas (H, W)."""
  factor = min(keep_ratio_resize.rescale_factor(height, width, (short, 1e6)),
               canvas[0] / height, canvas[1] / width)
  return keep_ratio_resize.scaled_size(height, width, factor)


def make_clip(examples, config, rng: np.random.Generator) -> dict[str, np.ndarray]:
  """One padded training clip from its T examples."""
  d = config.data
  canvas = tuple(d.canvas)
  height, width = examples[0]["image"].shape[:2]
  short = float(rng.choice(np.asarray(d.short_sides)))
  size = clip_size(height, width, short, canvas)
  flip = rng.random() < d.flip_prob
  t_len, m = len(examples), int(d.max_instances)
  image = np.zeros((t_len, *canvas, 3), np.float32)
  masks = np.zeros((t_len, m, *canvas), np.uint8)
  present = np.zeros((t_len, m), bool)
  labels = np.zeros((m,), np.int32)
  slots: dict[int, int] = {}
  mean, std = np.asarray(d.mean, np.float32), np.asarray(d.std, np.float32)
  for t, ex in enumerate(examples):
    img = keep_ratio_resize.bilinear(ex["image"], size)
    if flip:
      img = img[:, ::-1]
    image[t, :size[0], :size[1]] = (img - mean) / std
    for k, inst in enumerate(ex["instance_ids"].tolist()):
      if ex["is_crowd"][k]:
        continue
      if inst not in slots:
        if len(slots) == m:
          continue
        slots[inst] = len(slots)
        labels[slots[inst]] = ex["labels"][k]
      s = slots[inst]
      mk = keep_ratio_resize.nearest(ex["masks"][k], size)
      masks[t, s, :size[0], :size[1]] = mk[:, ::-1] if flip else mk
      present[t, s] = True
  valid = np.arange(m) < len(slots)
  return {common.IMAGE: image, common.TUBE_MASKS: masks,
          common.TUBE_PRESENT: present, common.TUBE_LABELS: labels,
          common.TUBE_VALID: valid}


def _has_instance(ex) -> bool:
  return bool(np.any(~np.asarray(ex["is_crowd"], bool)))


def train_clip(source, spans, config, seed: int, n: int
               ) -> dict[str, np.ndarray]:
  """Clip n of the run's global stream: a function of (seed, n) only."""
  half = int(config.data.clip_length) // 2
  rng = np.random.default_rng([seed, n])
  for _ in range(100):
    _, first, length = spans[rng.integers(len(spans))]
    key = int(rng.integers(half, length - half))
    if _has_instance(source[first + key]):
      break
  examples = [source[first + t] for t in range(key - half, key + half + 1)]
  return make_clip(examples, config, rng)


def clip_signature(config) -> dict:
  """Key -> (dtype, static shape) of one training clip."""
  t, m = int(config.data.clip_length), int(config.data.max_instances)
  canvas = tuple(config.data.canvas)
  return {common.IMAGE: (tf.float32, (t, *canvas, 3)),
          common.TUBE_MASKS: (tf.uint8, (t, m, *canvas)),
          common.TUBE_PRESENT: (tf.bool, (t, m)),
          common.TUBE_LABELS: (tf.int32, (m,)),
          common.TUBE_VALID: (tf.bool, (m,))}


def make_train_dataset(config, *, batch_size: int, start_step: int = 0,
                       process_index: int = 0, process_count: int = 1,
                       source=None) -> tf.data.Dataset:
  """This host's batches of `batch_size` clips from step `start_step` on.

  One global clip stream (seed config.seed) over `source` (default: the
  config's built train split); host p takes its slice of every global batch
  (clip_pipeline). Clips are built in numpy (`train_clip`) inside tf.data's
  parallel map.
  """
  if source is None:
    from video_knet_jax.data import prepare  # pylint: disable=g-import-not-at-top
    source = prepare.ensure_dataset(config).as_data_source(
        split=config.data.train_split)
  half = int(config.data.clip_length) // 2
  spans = [s for s in video_spans(source) if s[2] >= 2 * half + 1]
  if not spans:
    raise ValueError(f"No video has config.data.clip_length="
                     f"{config.data.clip_length} frames.")
  make_clip = clip_pipeline.numpy_clip(
      lambda n: train_clip(source, spans, config, config.seed, n),
      clip_signature(config))
  return clip_pipeline.train_dataset(
      make_clip, batch_size=batch_size, start_step=start_step,
      process_index=process_index, process_count=process_count)
