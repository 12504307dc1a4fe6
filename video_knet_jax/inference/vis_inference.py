"""Whole-video inference of KNetTrack and the YouTube-VIS results JSON.

Extensions 3.7: every frame is resized with kept aspect ratio into
`config.data.test_size` (H, W) (640x360 for 1280x720), normalised and padded
to a multiple of 32; the whole video is ONE clip. Scores are the sigmoid of
the last clip-level class logits [N, C]; the top `max_per_video` (query,
class) pairs are kept (a query may appear with two classes). Their masks are
the last tracker stage's logits, x`mask_upsample_stride`, sigmoid, bilinear to
the padded input, cropped to the resized frame, bilinear to the original
size, > `mask_thr`. One results entry per pair: {video_id, score,
category_id = class + 1, segmentations: one compressed RLE per frame}.

Static shapes: the clip length is padded up to a multiple of
`config.inference.frame_bucket` (padded frames get frame weight 0), so a
data set compiles the model once per bucket, not once per video length.
Memory: the clip's features (stride 8) and mask logits of all frames are on
the device at once, i.e. linear in the video length; the upsampled masks of
the kept instances are made one frame at a time on the host. With
`config.inference.frame_chunk` > 0 the backbone, FPN and per-frame stages run
on chunks of frames, so their activations are bounded by the chunk; only the
stride-8 features, kernels and mask logits of every frame (what the clip
stages pool over) grow with the video.
"""
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from video_knet_jax import shapes
from video_knet_jax.models import knet_track


def test_scale(height: int, width: int, test_size) -> float:
  """Keep-ratio scale that fits (height, width) into test_size (H, W)."""
  return min(test_size[0] / height, test_size[1] / width)


def preprocess(frames: np.ndarray, config) -> tuple[np.ndarray, tuple[int, int]]:
  """frames [T, H, W, 3] uint8 -> (normalised padded [T, Hp, Wp, 3], (h, w) resized)."""
  t, height, width = frames.shape[:3]
  scale = test_scale(height, width, config.data.test_size)
  h, w = max(1, round(height * scale)), max(1, round(width * scale))
  hp, wp = shapes.round_up(tuple(config.data.test_size), config.data.size_divisor)
  out = np.zeros((t, hp, wp, 3), np.float32)
  mean = np.asarray(config.data.mean, np.float32)
  std = np.asarray(config.data.std, np.float32)
  for i in range(t):
    img = np.asarray(Image.fromarray(frames[i]).resize((w, h), Image.BILINEAR),
                     np.float32)
    out[i, :h, :w] = (img - mean) / std
  return out, (h, w)


def make_predict_fn(model, frame_chunk: int = 0):
  """(variables, clip [1, T, H, W, 3], frame_weights [1, T]) -> (scores [N, C], masks [T, N, h, w]).

  frame_chunk 0: one jitted call on the whole clip. frame_chunk F > 0: the
  per-frame part runs on chunks of F frames (one compiled shape; the last
  chunk is zero-padded and its extra frames dropped), then the tracker stages
  on all frames' stride-8 features; the result equals the unchunked one.
  """

  @jax.jit
  def predict(variables, clip, frame_weights):
    out = model.apply(variables, clip, frame_weights)
    scores = jax.nn.sigmoid(out[knet_track.CLIP_CLS_LOGITS][-1][0])
    return scores, out[knet_track.CLIP_MASK_LOGITS][-1]

  if frame_chunk <= 0:
    return predict
  frame_part = jax.jit(functools.partial(model.apply, method=knet_track.KNetTrack.frame_part))

  @jax.jit
  def clip_part(variables, parts, frame_weights):
    out = model.apply(variables, *parts, frame_weights, method=knet_track.KNetTrack.clip_part)
    scores = jax.nn.sigmoid(out[knet_track.CLIP_CLS_LOGITS][-1][0])
    return scores, out[knet_track.CLIP_MASK_LOGITS][-1]

  def predict_chunked(variables, clip, frame_weights):
    if clip.shape[0] != 1:
      raise ValueError(f"Chunked inference takes one video (B=1), got clip {clip.shape}.")
    frames = clip[0]
    t = frames.shape[0]
    chunks = []
    for start in range(0, t, frame_chunk):
      chunk = frames[start:start + frame_chunk]
      n = chunk.shape[0]
      if n < frame_chunk:
        chunk = np.concatenate([chunk, np.zeros((frame_chunk - n, *chunk.shape[1:]),
                                                chunk.dtype)])
      chunks.append([x[:n] for x in frame_part(variables, chunk)])
    parts = [jnp.concatenate(xs) for xs in zip(*chunks)]
    return clip_part(variables, parts, frame_weights)
  return predict_chunked


def _resize(x: np.ndarray, size) -> np.ndarray:
  """Bilinear resize of [K, h, w] float maps to size (H, W) (half-pixel centres)."""
  return np.asarray(jax.image.resize(jnp.asarray(x), (x.shape[0], *size),
                                     "bilinear", antialias=False))


def predict_video(predict_fn, variables, frames: np.ndarray, video_id: int,
                  config) -> list[dict[str, Any]]:
  """Results entries of one video (frames [T, H, W, 3] uint8, original size)."""
  t, height, width = frames.shape[:3]
  clip, (h, w) = preprocess(frames, config)
  bucket = int(config.inference.frame_bucket)
  t_pad = -(-t // bucket) * bucket
  clip = np.concatenate([clip, np.zeros((t_pad - t, *clip.shape[1:]), np.float32)])
  weights = (np.arange(t_pad) < t).astype(np.float32)[None]
  scores, mask_logits = jax.device_get(predict_fn(variables, clip[None], weights))
  num_classes = scores.shape[-1]
  k = min(int(config.inference.max_per_video), scores.size)
  flat = scores.reshape(-1)
  top = np.argsort(-flat, kind="stable")[:k]
  queries, labels = top // num_classes, top % num_classes
  stride = int(config.model.update_head.mask_upsample_stride)
  padded = clip.shape[1:3]
  segmentations = [[] for _ in range(k)]
  for f in range(t):
    logits = mask_logits[f, queries]                                # [k, h8, w8]
    logits = _resize(logits, (logits.shape[1] * stride, logits.shape[2] * stride))
    probs = _resize(1 / (1 + np.exp(-logits)), padded)[:, :h, :w]
    probs = _resize(probs, (height, width))
    binary = probs > config.inference.mask_thr
    for i in range(k):
      rle = mask_utils.encode(np.asfortranarray(binary[i].astype(np.uint8)))
      segmentations[i].append({"size": [height, width],
                               "counts": rle["counts"].decode("ascii")})
  return [{"video_id": int(video_id), "score": float(flat[top[i]]),
           "category_id": int(labels[i]) + 1,
           "segmentations": segmentations[i]} for i in range(k)]
