"""Online video evaluation: predict every frame of every sequence, score it.

For each sequence of the eval split the predictor runs frame by frame
(kernels and tracker state carried as explicit values); each prediction is
scored by streaming STQ and VPQ accumulators, written in the KITTI-STEP
submission format, and a few frames are drawn as overlay pictures plus an
animated GIF of the first sequence.
"""
import os
import shutil
import time
from typing import Any

import numpy as np
from absl import logging
from PIL import Image

from video_knet_jax.datasets import facts as dataset_facts
from video_knet_jax import atomic_files
from video_knet_jax import common
from video_knet_jax.evaluation import segment_counts
from video_knet_jax.evaluation import stq as stq_lib
from video_knet_jax.evaluation import vpq as vpq_lib
from video_knet_jax.inference import coco_panoptic_submission
from video_knet_jax.inference import kitti_step_png
from video_knet_jax.inference import predictor as predictor_lib
from video_knet_jax.inference import visualize

# Wide enough for any track id a long video produces.
LABEL_DIVISOR = 2**16
VPQ_WINDOWS = (1, 2, 3, 4)
METRICS_FILE = "metrics.json"


def _reencode_gt(gt_panoptic: np.ndarray, pipeline_divisor: int) -> np.ndarray:
  """semantic * pipeline_divisor + instance (the eval pipeline's encoding, the
  dataset facts' label_divisor) -> semantic * 2**16 + instance."""
  gt = np.asarray(gt_panoptic).astype(np.int64)
  return (gt // pipeline_divisor) * LABEL_DIVISOR + (gt % pipeline_divisor)


def make_metrics(facts: dataset_facts.DatasetFacts, data_config=None):
  """Streaming (STQ, VPQ) over the facts' label space, ids * 2**16. VPQ
  windows and protocol: `config.data.vpq_windows` / `vpq_protocol` where a
  data set's own script differs (VIPSeg), else VPQ_WINDOWS, 'video_knet'."""
  get = data_config.get if data_config is not None else (lambda _, default: default)
  stq = stq_lib.STQ(facts.num_classes, facts.thing_ids,
                    ignore_label=facts.void_label, label_divisor=LABEL_DIVISOR)
  vpq = vpq_lib.VideoPanopticQuality(
      facts.num_classes, facts.thing_ids, ignore_label=facts.void_label,
      label_divisor=LABEL_DIVISOR, window_sizes=tuple(get("vpq_windows", VPQ_WINDOWS)),
      protocol=get("vpq_protocol", "video_knet"))
  return stq, vpq


def _denormalize(image: np.ndarray, config, hw) -> np.ndarray:
  """Normalised, padded [H, W, 3] -> uint8 RGB cropped to the image size."""
  mean = np.asarray(config.data.mean, np.float32)
  std = np.asarray(config.data.std, np.float32)
  rgb = np.asarray(image)[:hw[0], :hw[1]] * std + mean
  return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def evaluate_variables(config, variables: Any, output_dir: str | None, *,
                       split: str | None = None,
                       association: str = "embedding",
                       write_predictions: bool = True,
                       num_pictures: int = 4,
                       max_sequences: int | None = None) -> dict:
  """Scores `variables` on the eval split; writes metrics.json and files.

  `output_dir=None` computes the metrics and writes nothing (the processes
  other than 0 of a multi-host run).
  """
  from video_knet_jax.data import input_pipeline  # pylint: disable=g-import-not-at-top
  from video_knet_jax.data import prepare  # pylint: disable=g-import-not-at-top
  from video_knet_jax.models import video_knet  # pylint: disable=g-import-not-at-top

  prepare.ensure_dataset(config)
  writes = output_dir is not None
  if writes:
    os.makedirs(output_dir, exist_ok=True)
  else:
    # Nothing below is created: no predictions, pictures or metrics file.
    write_predictions, num_pictures, output_dir = False, 0, os.devnull
  model = video_knet.build_model(config)
  if not video_knet.is_temporal(config.model):
    association = "mask_iou"   # the image K-Net has no embeddings.
  predictor = predictor_lib.VideoPredictor(model, variables, config,
                                           association=association)
  facts = dataset_facts.facts_for_config(config)
  things = facts.thing_ids
  stq, vpq = make_metrics(facts, config.data)

  # Folders are filled under '.partial' names and swapped in when complete,
  # metrics.json is written last: a kill never leaves a complete-looking result.
  final_dirs = {name: os.path.join(output_dir, name)
                for name in ("predictions", "pictures")}
  partial_dirs = {name: f"{path}{atomic_files.PARTIAL}-{os.getpid()}"
                  for name, path in final_dirs.items()}
  for path in partial_dirs.values() if writes else ():
    shutil.rmtree(path, ignore_errors=True)
  prediction_dir = partial_dirs["predictions"]
  picture_dir = partial_dirs["pictures"]
  # Data sets labelled every `gap` frames (Cityscapes-VPS: 5) are run through
  # every frame but scored, and submitted, on the labelled ones only.
  gap = int(config.data.get("labelled_frame_gap", 1))
  submission_format = config.data.get("submission_format", "kitti_step")
  submission = None
  if write_predictions and submission_format != "kitti_step":
    submission = coco_panoptic_submission.SubmissionWriter(
        prediction_dir, submission_format, config.data.ignore_label)
  gif_frames = []
  num_frames, start = 0, time.time()
  for seq_index, (sequence_id, frames) in enumerate(
      input_pipeline.iterate_eval_sequences(config, split)):
    if max_sequences is not None and seq_index >= max_sequences:
      break
    frames = list(frames)
    results = predictor.predict_eval_sequence(frames)
    for frame, result in zip(frames, results):
      frame_index = int(frame[common.FRAME_INDEX])
      if submission is not None and (frame_index + 1) % gap == 0:
        submission.add(frame[common.FILE_NAME], sequence_id, result.semantic,
                       result.ids)
      if common.PANOPTIC not in frame:
        continue   # an unlabelled frame: predicted (online), not scored.
      pred = predictor_lib.panoptic_label(result.semantic, result.ids,
                                          LABEL_DIVISOR)
      gt = _reencode_gt(frame[common.PANOPTIC], facts.label_divisor)
      if gt.shape != pred.shape:
        raise ValueError(f"sequence {sequence_id} frame {frame_index}: "
                         f"prediction {pred.shape} vs ground truth {gt.shape}.")
      counts = segment_counts.count_pairs(gt, pred)
      stq.update_counts(counts, sequence_id)
      vpq.update_counts(counts, sequence_id)
      if write_predictions and submission is None:
        kitti_step_png.write_kitti_step_png(
            kitti_step_png.submission_path(prediction_dir, sequence_id,
                                           frame_index),
            result.semantic, result.ids)
      if seq_index == 0 and (num_pictures or write_predictions):
        rgb = _denormalize(frame[common.IMAGE], config, result.semantic.shape)
        drawn = visualize.overlay(rgb, result.semantic, result.ids,
                                  palette=facts.colors,
                                  void_label=facts.void_label)
        gif_frames.append(Image.fromarray(drawn))
        if len(gif_frames) <= num_pictures:
          os.makedirs(picture_dir, exist_ok=True)
          gt_sem = gt // LABEL_DIVISOR
          gt_ids = np.where(np.isin(gt_sem, things), gt % LABEL_DIVISOR, 0)
          truth = visualize.overlay(rgb, gt_sem, gt_ids, palette=facts.colors,
                                    void_label=facts.void_label)
          Image.fromarray(np.concatenate([drawn, truth], axis=0)).save(
              os.path.join(picture_dir,
                           f"{int(sequence_id):04d}_{frame_index:06d}.png"))
      num_frames += 1
    vpq.end_sequence(sequence_id)
    elapsed = time.time() - start
    logging.info("eval: sequence %s done, %d frames, %.2f frames/s",
                 sequence_id, num_frames, num_frames / max(elapsed, 1e-9))

  if gif_frames and num_pictures:
    gif_path = os.path.join(output_dir, "sequence.gif")
    gif_frames[0].save(gif_path + atomic_files.PARTIAL, format="GIF",
                       save_all=True, append_images=gif_frames[1:],
                       duration=200, loop=0)
    os.replace(gif_path + atomic_files.PARTIAL, gif_path)
  if submission is not None:
    submission.close()
  metrics = summarize(stq.result(), vpq.result())
  if gap > 1:   # windows of n labelled frames span (n - 1) * gap frames.
    for n in VPQ_WINDOWS:
      metrics[f"VPQ_span{(n - 1) * gap}"] = metrics[f"VPQ_k{n}"]
  metrics["num_frames"] = num_frames
  metrics["association"] = association
  if writes:
    for name, path in partial_dirs.items():
      if os.path.isdir(path):
        atomic_files.replace_directory(path, final_dirs[name])
    atomic_files.write_json(os.path.join(output_dir, METRICS_FILE), metrics,
                            indent=2, default=_json_default)
  return metrics


def check_variables_fit(config, variables: Any, source: str) -> None:
  """Raises CheckpointMismatchError naming `source` unless `variables` has the
  paths and shapes of `config`'s model."""
  import jax  # pylint: disable=g-import-not-at-top
  from video_knet_jax import checkpointing  # pylint: disable=g-import-not-at-top
  from video_knet_jax import train_lib  # pylint: disable=g-import-not-at-top
  from video_knet_jax.models import video_knet  # pylint: disable=g-import-not-at-top
  model = video_knet.build_model(config)
  abstract = jax.eval_shape(
      lambda rng: train_lib.init_variables(model, config, rng),
      jax.random.key(0))
  mismatch = checkpointing.describe_mismatch(
      abstract, {"params": variables.get("params", {}),
                 "batch_stats": variables.get("batch_stats", {})})
  if mismatch:
    raise checkpointing.CheckpointMismatchError(
        f"{source}: the checkpoint does not fit the model of --config "
        f"({mismatch}).")


def _json_default(x):
  if isinstance(x, (np.floating, np.integer)):
    return x.item()
  raise TypeError(f"not JSON serialisable: {type(x)}")


def summarize(stq_result: dict, vpq_result: dict) -> dict:
  """The headline numbers: STQ, AQ, SQ (IoU), VPQ per window and mean, PQ."""
  out = {"STQ": float(stq_result["STQ"]), "AQ": float(stq_result["AQ"]),
         "SQ": float(stq_result["IoU"]), "VPQ": float(vpq_result["VPQ"]),
         "VPQ_th": float(vpq_result["VPQ_th"]),
         "VPQ_st": float(vpq_result["VPQ_st"])}
  for k, window in sorted(vpq_result["per_window"].items()):
    out[f"VPQ_k{k}"] = float(window["All"]["PQ"])
  out["PQ"] = out["VPQ_k1"]
  return out


def format_table(metrics: dict) -> str:
  """A two-row plain-text table of the headline numbers (in %)."""
  keys = ["STQ", "AQ", "SQ"] + [k for k in sorted(metrics)
                                if k.startswith("VPQ_k")] + ["VPQ", "PQ"]
  header = " | ".join(f"{k:>7}" for k in keys)
  values = " | ".join(f"{100 * metrics[k]:7.2f}" for k in keys)
  return f"{header}\n{'-' * len(header)}\n{values}"


def evaluate_during_training(config, state, workdir: str, step: int) -> dict:
  """Periodic evaluation from the train loop (metrics only, no pictures).

  Every process scores the whole eval split (the same numbers, and no host
  waits in a collective for another's evaluation); only process 0 writes.
  """
  import jax  # pylint: disable=g-import-not-at-top
  from video_knet_jax import sharding  # pylint: disable=g-import-not-at-top
  variables = sharding.host_copy({"params": state.params,
                                  "batch_stats": state.batch_stats})
  output_dir = (os.path.join(workdir, "eval", f"step_{step}")
                if jax.process_index() == 0 else None)
  metrics = evaluate_variables(config, variables, output_dir,
                               write_predictions=False, num_pictures=0)
  logging.info("eval at step %d (%s):\n%s", step,
               f"written to {output_dir}" if output_dir else
               f"process {jax.process_index()}: scored, not written",
               format_table(metrics))
  return {k: v for k, v in metrics.items() if isinstance(v, float)}
