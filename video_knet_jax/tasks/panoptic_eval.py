"""The panoptic task's evaluation: predict every frame of every sequence, score it.

For each sequence of the eval split the predictor runs frame by frame
(kernels and tracker state carried as explicit values); each prediction is
scored by streaming STQ and VPQ accumulators, written in the KITTI-STEP
(or COCO-panoptic-style) submission format, and a few frames are drawn as
overlay pictures plus an animated GIF of the first sequence. The evaluation
driver (eval/driver.py) loads, checks and writes atomically around it.
"""
import collections
import os
import time
from typing import Any

import numpy as np
from absl import logging
from PIL import Image

from video_knet_jax.datasets import facts as dataset_facts
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


def evaluate(config, variables, output_dir: str | None, options) -> dict:
  """The task's evaluation (tasks/base.py): STQ / VPQ, with the submission
  files and pictures unless `options.in_training`. Association: the option,
  else the embedding tracker (an image K-Net's raw kernels: the toy row)."""
  association = options.association or "embedding"
  return evaluate_variables(
      config, variables, output_dir, split=options.split,
      association=association, write_predictions=not options.in_training,
      num_pictures=0 if options.in_training else 4,
      max_sequences=options.max_sequences)


def _with_frames(predict, frames):
  """(frame, result) pairs of `predict(frames)` (results in frame order),
  holding only the frames the predictor has read ahead (at most two)."""
  read = collections.deque()

  def reading():
    for frame in frames:
      read.append(frame)
      yield frame

  for result in predict(reading()):
    yield read.popleft(), result


def evaluate_variables(config, variables: Any, output_dir: str | None, *,
                       split: str | None = None,
                       association: str = "embedding",
                       write_predictions: bool = True,
                       num_pictures: int = 4,
                       max_sequences: int | None = None) -> dict:
  """Scores `variables` on the eval split; writes predictions and pictures.

  `output_dir=None` computes the metrics and writes nothing (the processes
  other than 0 of a multi-host run). The driver (eval/driver.py) passes a
  staging directory and swaps its contents in when this returns.
  """
  from video_knet_jax.data import panoptic_clips  # pylint: disable=g-import-not-at-top
  from video_knet_jax.data import prepare  # pylint: disable=g-import-not-at-top
  from video_knet_jax.models import video_knet  # pylint: disable=g-import-not-at-top

  prepare.ensure_dataset(config)
  if output_dir is None:
    # Nothing below is created: no predictions, pictures or GIF.
    write_predictions, num_pictures, output_dir = False, 0, os.devnull
  model = video_knet.build_model(config)   # an image K-Net tracks its raw kernels (toy row).
  predictor = predictor_lib.VideoPredictor(model, variables, config,
                                           association=association)
  facts = dataset_facts.facts_for_config(config)
  things = facts.thing_ids
  stq, vpq = make_metrics(facts, config.data)

  prediction_dir = os.path.join(output_dir, "predictions")
  picture_dir = os.path.join(output_dir, "pictures")
  # Data sets labelled every `gap` frames (Cityscapes-VPS: 5) are run through
  # every frame but scored, and submitted, on the labelled ones only.
  gap = int(config.data.get("labelled_frame_gap", 1))
  submission_format = config.data.get("submission_format", "kitti_step")
  submission = None
  if write_predictions and submission_format != "kitti_step":
    submission = coco_panoptic_submission.SubmissionWriter(
        prediction_dir, submission_format, config.data.ignore_label)
  gif_frames = []
  num_frames, num_predicted, start = 0, 0, time.time()
  for seq_index, (sequence_id, frames) in enumerate(
      panoptic_clips.iterate_eval_sequences(config, split)):
    if max_sequences is not None and seq_index >= max_sequences:
      break
    for frame, result in _with_frames(predictor.predict_eval_sequence, frames):
      frame_index = int(frame[common.FRAME_INDEX])
      labelled = common.PANOPTIC in frame
      num_predicted += 1
      # The submission holds every frame the benchmark scores, labelled here
      # or not (a test split has no labels): KITTI-STEP every frame, the
      # COCO-style formats every `gap`-th.
      if submission is not None and (frame_index + 1) % gap == 0:
        submission.add(frame[common.FILE_NAME], sequence_id, result.semantic,
                       result.ids)
      elif write_predictions and submission is None:
        kitti_step_png.write_kitti_step_png(
            kitti_step_png.submission_path(prediction_dir, sequence_id,
                                           frame_index),
            result.semantic, result.ids)
      gt = None
      if labelled:   # an unlabelled frame is predicted (online), not scored.
        pred = predictor_lib.panoptic_label(result.semantic, result.ids,
                                            LABEL_DIVISOR)
        gt = _reencode_gt(frame[common.PANOPTIC], facts.label_divisor)
        if gt.shape != pred.shape:
          raise ValueError(f"sequence {sequence_id} frame {frame_index}: "
                           f"prediction {pred.shape} vs ground truth {gt.shape}.")
        counts = segment_counts.count_pairs(gt, pred)
        stq.update_counts(counts, sequence_id)
        vpq.update_counts(counts, sequence_id)
        num_frames += 1
      elif num_frames or (frame_index + 1) % gap:
        continue   # pictures: labelled frames, or a split without labels.
      if seq_index == 0 and (num_pictures or write_predictions):
        rgb = _denormalize(frame[common.IMAGE], config, result.semantic.shape)
        drawn = visualize.overlay(rgb, result.semantic, result.ids,
                                  palette=facts.colors,
                                  void_label=facts.void_label)
        gif_frames.append(Image.fromarray(drawn))
        if len(gif_frames) <= num_pictures:
          os.makedirs(picture_dir, exist_ok=True)
          panels = [drawn]
          if gt is not None:   # the ground truth below the prediction.
            gt_sem = gt // LABEL_DIVISOR
            gt_ids = np.where(np.isin(gt_sem, things), gt % LABEL_DIVISOR, 0)
            panels.append(visualize.overlay(rgb, gt_sem, gt_ids,
                                            palette=facts.colors,
                                            void_label=facts.void_label))
          Image.fromarray(np.concatenate(panels, axis=0)).save(
              os.path.join(picture_dir,
                           f"{int(sequence_id):04d}_{frame_index:06d}.png"))
    vpq.end_sequence(sequence_id)
    elapsed = time.time() - start
    logging.info("eval: sequence %s done, %d frames (%d scored), %.2f frames/s",
                 sequence_id, num_predicted, num_frames,
                 num_predicted / max(elapsed, 1e-9))

  if gif_frames and num_pictures:
    gif_frames[0].save(os.path.join(output_dir, "sequence.gif"), format="GIF",
                       save_all=True, append_images=gif_frames[1:],
                       duration=200, loop=0)
  if submission is not None:
    submission.close()
  if not num_frames:
    return {}   # an unlabelled split (test): the submission, nothing scored.
  metrics = summarize(stq.result(), vpq.result())
  if gap > 1:   # windows of n labelled frames span (n - 1) * gap frames.
    for n in VPQ_WINDOWS:
      metrics[f"VPQ_span{(n - 1) * gap}"] = metrics[f"VPQ_k{n}"]
  metrics["num_frames"] = num_frames
  metrics["association"] = association
  return metrics


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
  scored = (f"{metrics['association']} association, {metrics['num_frames']} "
            "frames\n" if "association" in metrics else "")
  return f"{scored}{header}\n{'-' * len(header)}\n{values}"
