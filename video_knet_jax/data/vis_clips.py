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
from typing import Any, Iterator

import numpy as np

from video_knet_jax.data import clip_sampling
from video_knet_jax.data import keep_ratio_resize
from video_knet_jax.losses import clip_loss

IMAGE = "image"


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
  return {IMAGE: image, clip_loss.MASKS: masks, clip_loss.PRESENT: present,
          clip_loss.LABELS: labels, clip_loss.VALID: valid}


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


def batches(source, config, batch_size: int, seed: int, *, start_step: int = 0,
            process_index: int = 0, process_count: int = 1
            ) -> Iterator[dict[str, np.ndarray]]:
  """This host's batches of `batch_size` clips from step `start_step` on.

  As in input_pipeline: one global clip stream, host p takes its contiguous
  slice of every global batch (clip_sampling.global_clip_index).
  """
  half = int(config.data.clip_length) // 2
  spans = [s for s in video_spans(source) if s[2] >= 2 * half + 1]
  if not spans:
    raise ValueError(f"No video has config.data.clip_length="
                     f"{config.data.clip_length} frames.")
  k = start_step * batch_size
  while True:
    items = [train_clip(source, spans, config, seed,
                        clip_sampling.global_clip_index(
                            k + i, local_batch=batch_size,
                            process_index=process_index,
                            process_count=process_count))
             for i in range(batch_size)]
    k += batch_size
    yield {key: np.stack([c[key] for c in items]) for key in items[0]}
