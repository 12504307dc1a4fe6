"""The semantic task's evaluation (VSPW): mIoU, mVC_8, mVC_16, VSPW-format predictions.

Each video runs frame by frame; the class kernels of frame t-1 are an
explicit value passed into frame t (reset at the first frame, which runs
without fusion). With `config.model.temporal.fusion` off every frame is
independent (the per-frame baseline). Metrics use the same code as folder
scoring (`evaluation/score_folders.score_vspw`): one confusion matrix over all
frames for mIoU (raw 0 and 255 ignored) and the VSPW toolkit's mVC on the raw
masks. Writes predictions/<video>/<frame>.png (train ids 0..123, the format
score_vspw reads), overlays/<video>/<frame>.png + <video>.gif for the first
`config.eval.num_gif_videos` videos; the evaluation driver (eval/driver.py)
writes metrics.json and swaps the files in atomically.
"""
import os
from typing import Any, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image as PILImage

from video_knet_jax.datasets import facts as facts_lib
from video_knet_jax.datasets.vspw import label_codec
from video_knet_jax import shapes
from video_knet_jax.data import prepare
from video_knet_jax.data import semantic_clips
from video_knet_jax.evaluation import miou as miou_lib
from video_knet_jax.evaluation import video_consistency
from video_knet_jax.inference import visualize
from video_knet_jax.models import semantic_knet


def make_predict_fn(model, config):
  """(variables, image [1, H, W, 3] normalised, previous kernels or None) ->
  (train ids [H, W] int32, kernels [1, K, C]); jitted once per (size, has-previous)."""

  @jax.jit
  def first(variables, image):
    out = model.apply(variables, image)
    return _argmax(out, image.shape[1:3]), out[semantic_knet.SEG_KERNELS]

  @jax.jit
  def later(variables, image, previous):
    out = model.apply(variables, image, previous)
    return _argmax(out, image.shape[1:3]), out[semantic_knet.SEG_KERNELS]

  fusion = bool(config.model.temporal.fusion)

  def predict(variables, image, previous):
    if previous is None or not fusion:
      return first(variables, image)
    return later(variables, image, previous)
  return predict


def _argmax(out, size):
  logits = out[semantic_knet.SEG_LOGITS]                                 # [1, K, h, w]
  logits = jax.image.resize(logits, (*logits.shape[:2], *size), "bilinear", antialias=False)
  return jnp.argmax(logits[0], axis=0).astype(jnp.int32)


def _normalise_and_pad(image: np.ndarray, config) -> np.ndarray:
  """[H, W, 3] uint8 -> [1, Ph, Pw, 3] float32, ImageNet-normalised, zero-padded."""
  h, w = image.shape[:2]
  ph, pw = shapes.round_up((h, w), config.data.size_divisor)
  x = (image.astype(np.float32) - np.asarray(config.data.mean, np.float32)) / np.asarray(
      config.data.std, np.float32)
  return np.pad(x, ((0, ph - h), (0, pw - w), (0, 0)))[None]


def evaluate(config, variables, output_dir: Optional[str], options) -> Dict[str, Any]:
  """Runs every video of `options.split` (default config.data.eval_split; the
  first `options.max_sequences`) online, one frame in memory at a time.

  Writes predictions (and overlays of the first `config.eval.num_gif_videos`
  videos) under `output_dir` unless `options.in_training`; `output_dir=None`
  writes nothing (the processes other than 0 of a multi-host run). The
  driver (eval/driver.py) writes metrics.json. A split without masks
  (test) is predicted and written, and returns no metrics.
  """
  facts = facts_lib.facts_for_config(config)
  model = semantic_knet.build_model(config)
  predict = make_predict_fn(model, config)
  builder = prepare.ensure_dataset(config)
  split = options.split or config.data.eval_split
  miou = miou_lib.MeanIoU(facts.num_classes)
  vc = video_consistency.VideoConsistency(tuple(config.eval.vc_windows))
  palette = np.asarray(facts.colors, np.uint8)
  writes = output_dir is not None and not options.in_training
  num_frames = num_scored = 0
  for v, video in enumerate(semantic_clips.iterate_eval_videos(
      builder, split, options.max_sequences)):
    previous = None
    pred_dir = os.path.join(output_dir, "predictions", video.name) if writes else None
    if pred_dir:
      os.makedirs(pred_dir, exist_ok=True)
    overlays = []
    for frame_name, image, raw in video.frames():
      h, w = image.shape[:2]
      ids, previous = predict(variables, _normalise_and_pad(image, config), previous)
      pred = np.asarray(ids)[:h, :w].astype(np.uint8)
      name = f"{video.name}/{frame_name}"
      if raw is not None:   # the test split: predicted and written only.
        miou.update(label_codec.raw_to_train_ids(raw), pred, name=name)
        vc.update(raw, pred, video.name, name=name)
        num_scored += 1
      if pred_dir:
        PILImage.fromarray(pred, mode="L").save(os.path.join(pred_dir, f"{frame_name}.png"))
      if writes and v < config.eval.num_gif_videos:
        overlays.append((frame_name, visualize.overlay(
            image, pred, np.zeros_like(pred, np.int32), palette=palette)))
      num_frames += 1
    vc.end_video(video.name)
    if overlays:
      _write_overlays(os.path.join(output_dir, "overlays"), video.name, overlays)
  if not num_scored:
    return {}   # an unlabelled split (test): the predictions, nothing scored.
  metrics = miou.result()
  metrics.update(vc.result())
  metrics["num_frames"] = num_frames
  metrics["fusion"] = bool(config.model.temporal.fusion)
  return metrics


def _write_overlays(root, video_name, overlays) -> None:
  """overlays: [(frame name, [H, W, 3] uint8)] -> PNGs and an animated GIF."""
  os.makedirs(os.path.join(root, video_name), exist_ok=True)
  frames = [PILImage.fromarray(o) for _, o in overlays]
  for (name, _), frame in zip(overlays, frames):
    frame.save(os.path.join(root, video_name, f"{name}.png"))
  frames[0].save(os.path.join(root, f"{video_name}.gif"), save_all=True,
                 append_images=frames[1:], duration=200, loop=0)


def format_table(metrics: Dict[str, Any]) -> str:
  windows = sorted(int(k.split("_")[1]) for k in metrics if k.startswith("mVC_"))
  scores = [f"mIoU {100 * metrics['mIoU']:.2f}"] + [
      f"mVC{n} {100 * metrics[f'mVC_{n}']:.2f}" for n in windows]
  return f"{metrics['num_frames']} frames: " + "  ".join(scores)
