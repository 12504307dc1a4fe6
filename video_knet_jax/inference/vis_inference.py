"""Whole-video inference of KNetTrack and the YouTube-VIS results JSON.

Extensions 3.7, as the original's test pipeline (`Resize(img_scale=(640,
360), keep_ratio=True)`, `SeqPad(size_divisor=32)`): every frame is resized
by mmcv's keep-ratio rule to long edge <= max(config.data.test_size) and
short edge <= min(...) (H x W: 720x1280 -> 360x640, portrait 1280x720 ->
640x360, 4:3 480x640 -> 360x480) with OpenCV's bilinear filter
(data/keep_ratio_resize.py), normalised and zero-padded to the next multiple
of `config.data.size_divisor` of ITS resized size (384x640, 640x384,
384x480): padding is not neutral (positional encodings, GroupNorm and mask
pooling see the padded pixels), so a fixed canvas would change scores. The
whole video is ONE clip; each distinct padded size compiles once.

Scores are the sigmoid of the last clip-level class logits [N, C]; the top `max_per_video` (query,
class) pairs are kept (a query may appear with two classes). Their masks are
the last tracker stage's logits, x`mask_upsample_stride`, sigmoid, bilinear to
the padded input, cropped to the resized frame, bilinear to the original
size, > `mask_thr`. One results entry per pair: {video_id, score,
category_id = class + 1, segmentations: one compressed RLE per frame}.

Memory is bounded by a chunk of frames (inference/vis_bounded.py): the video
is preprocessed, run and its masks RLE-encoded chunk by chunk, sweeping it
once per tracker stage (the backbone reruns per sweep) to build the clip-level
means. `config.inference.frame_chunk` F > 0: chunks of F frames (one compiled
shape). F = 0: the whole video is one chunk, its length padded up to a
multiple of `config.inference.frame_bucket` (padded frames get weight 0), so a
data set compiles once per bucket and the backbone runs once per frame; memory
is then linear in the video length, as in the original.
"""
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from video_knet_jax import shapes
from video_knet_jax.data import keep_ratio_resize
from video_knet_jax.inference import vis_bounded


def resized_size(height: int, width: int, config) -> tuple[int, int]:
  """(h, w) of a (height, width) frame at test: mmcv's rescale_size with
  img_scale config.data.test_size (either order; long and short edge caps)."""
  return keep_ratio_resize.rescale_size(height, width, tuple(config.data.test_size))


def padded_size(height: int, width: int, config) -> tuple[int, int]:
  """The model input (Hp, Wp) of a (height, width) video: its resized size
  rounded up to config.data.size_divisor (SeqPad), per video."""
  return shapes.round_up(resized_size(height, width, config), config.data.size_divisor)


def preprocess(frames: np.ndarray, config) -> tuple[np.ndarray, tuple[int, int]]:
  """frames [T, H, W, 3] uint8 -> (normalised padded [T, Hp, Wp, 3], (h, w) resized)."""
  t, height, width = frames.shape[:3]
  h, w = resized_size(height, width, config)
  out = np.zeros((t, *padded_size(height, width, config), 3), np.float32)
  mean = np.asarray(config.data.mean, np.float32)
  std = np.asarray(config.data.std, np.float32)
  for i in range(t):                     # frame by frame: float copies stay small.
    out[i, :h, :w] = (keep_ratio_resize.bilinear(frames[i], (h, w)) - mean) / std
  return out, (h, w)


def make_predict_fn(model, frame_chunk: int = 0):
  """-> predict(variables, load, num_frames, frame_bucket): `vis_bounded`'s
  chunk-by-chunk pass with chunks of `frame_chunk` frames, or (0) the whole
  video as one chunk padded to a multiple of frame_bucket."""
  bounded = vis_bounded.make_predict_fn(model)

  def predict(variables, load, num_frames: int, frame_bucket: int):
    chunk = frame_chunk if frame_chunk > 0 else -(-num_frames // frame_bucket) * frame_bucket
    return bounded(variables, load, num_frames, chunk)
  return predict


def _resize(x: np.ndarray, size) -> np.ndarray:
  """Bilinear resize of [K, h, w] float maps to size (H, W) (half-pixel centres)."""
  return np.asarray(jax.image.resize(jnp.asarray(x), (x.shape[0], *size),
                                     "bilinear", antialias=False))


def predict_video(predict_fn, variables, frames: np.ndarray, video_id: int,
                  config) -> list[dict[str, Any]]:
  """Results entries of one video (frames [T, H, W, 3] uint8, original size)."""
  # Here, not at the top: the device benchmark runs the model part of this
  # module where pycocotools is not installed.
  from pycocotools import mask as mask_utils  # pylint: disable=g-import-not-at-top
  t, height, width = frames.shape[:3]
  h, w = resized_size(height, width, config)
  stride = int(config.model.update_head.mask_upsample_stride)
  padded = padded_size(height, width, config)
  load = lambda start, stop: preprocess(frames[start:stop], config)[0]
  entries, segmentations = [], []
  for start, scores, mask_logits in predict_fn(variables, load, t,
                                               int(config.inference.frame_bucket)):
    if not entries:          # the clip-level scores: the same in every chunk.
      num_classes = scores.shape[-1]
      k = min(int(config.inference.max_per_video), scores.size)
      flat = scores.reshape(-1)
      top = np.argsort(-flat, kind="stable")[:k]
      queries = top // num_classes
      entries = [{"video_id": int(video_id), "score": float(flat[i]),
                  "category_id": int(i % num_classes) + 1} for i in top]
      segmentations = [[None] * t for _ in range(k)]
    for f in range(mask_logits.shape[0]):
      logits = mask_logits[f, queries]                              # [k, h8, w8]
      logits = _resize(logits, (logits.shape[1] * stride, logits.shape[2] * stride))
      probs = _resize(1 / (1 + np.exp(-logits)), padded)[:, :h, :w]
      probs = _resize(probs, (height, width))
      binary = probs > config.inference.mask_thr
      for i in range(len(entries)):
        rle = mask_utils.encode(np.asfortranarray(binary[i].astype(np.uint8)))
        segmentations[i][start + f] = {"size": [height, width],
                                       "counts": rle["counts"].decode("ascii")}
  return [dict(e, segmentations=s) for e, s in zip(entries, segmentations)]
