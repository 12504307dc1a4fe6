"""The instance task's evaluation (YouTube-VIS): AP / AR, results.json, pictures.

Whole-video inference (inference/vis_inference.py, memory bounded by
`config.inference.frame_chunk`) on the local val split, scored with
evaluation/ytvis_ap (the official cocoapi's AP / AR); writes the benchmark
server's results.json (and submission_file.zip, the file to upload), the
split's groundtruth.json and one picture per video of its top tracks. The evaluation driver (eval/driver.py) loads and checks the
variables and writes metrics.json and the files atomically around it.
"""
import os
import zipfile
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from video_knet_jax import atomic_files
from video_knet_jax.data import prepare
from video_knet_jax.data import vis_clips
from video_knet_jax.evaluation import ytvis_ap
from video_knet_jax.inference import vis_inference
from video_knet_jax.inference import visualize
from video_knet_jax.models import knet_track


def groundtruth_json(source, spans) -> dict[str, Any]:
  """YouTube-VIS annotation JSON of a (local) split, for ytvis_ap."""
  videos, annotations = [], []
  for span in spans:
    video = vis_clips.VideoFrames(source, span)     # one frame in memory at a time.
    t, h, w = video.shape[:3]
    file_names = []
    videos.append({"id": span[0], "height": h, "width": w, "length": t,
                   "file_names": file_names})
    by_id: dict[int, dict] = {}
    for f in range(t):
      ex = video.example(f)
      file_names.append(ex["file_name"].decode()
                        if isinstance(ex["file_name"], bytes)
                        else str(ex["file_name"]))
      for k, inst in enumerate(ex["instance_ids"].tolist()):
        entry = by_id.setdefault(inst, {
            "id": inst, "video_id": span[0],
            "category_id": int(ex["labels"][k]) + 1,
            "iscrowd": int(ex["is_crowd"][k]), "segmentations": [None] * t,
            "areas": [None] * t, "height": h, "width": w, "length": t})
        rle = mask_utils.encode(np.asfortranarray(ex["masks"][k]))
        entry["segmentations"][f] = {"size": [h, w],
                                     "counts": rle["counts"].decode("ascii")}
        entry["areas"][f] = int(ex["masks"][k].sum())
    annotations += list(by_id.values())
  from video_knet_jax.datasets.youtube_vis import facts  # pylint: disable=g-import-not-at-top
  categories = [{"id": k + 1, "name": n, "supercategory": "object"}
                for k, n in enumerate(facts.CLASS_NAMES_2019)]
  return {"videos": videos, "annotations": annotations,
          "categories": categories}


def evaluate(config, variables, output_dir: str | None, options) -> dict:
  """AP / AR on `options.split` (default config.data.eval_split; its first
  `options.max_sequences` videos).

  Writes results.json (the server's format) and submission_file.zip (it,
  zipped for upload), groundtruth.json and
  pictures/<video>.png under `output_dir` unless `options.in_training`; None
  writes nothing. An unlabelled split ('valid', the server's) gives no metrics.
  """
  split = options.split or config.data.eval_split
  builder = prepare.ensure_dataset(config)
  model = knet_track.build_model(config)
  predict_fn = vis_inference.make_predict_fn(
      model, int(config.inference.get("frame_chunk", 0)))
  source = builder.as_data_source(split=split)
  spans = vis_clips.video_spans(source)[:options.max_sequences]
  writes = output_dir is not None and not options.in_training
  results = []
  for span in spans:
    # Frames are decoded per chunk when the bounded pass asks for them.
    frames = vis_clips.VideoFrames(source, span)
    video_results = vis_inference.predict_video(predict_fn, variables, frames,
                                                span[0], config)
    results += video_results
    if writes:
      os.makedirs(os.path.join(output_dir, "pictures"), exist_ok=True)
      Image.fromarray(picture(frames, video_results)).save(
          os.path.join(output_dir, "pictures", f"{span[0]}.png"))
  if writes:
    write_submission(output_dir, results)
  if split == "valid":    # the server's split has no labels.
    return {}
  gt = groundtruth_json(source, spans)
  if writes:
    atomic_files.write_json(os.path.join(output_dir, "groundtruth.json"), gt)
  stats = ytvis_ap.YouTubeVISEval(gt).evaluate(results)["stats"]
  return {k: float(v) for k, v in dict(stats).items()}


SUBMISSION_ZIP = "submission_file.zip"   # the original's name for it.


def write_submission(output_dir: str, results: list[dict]) -> None:
  """results.json, and the zip the CodaLab server takes: results.json alone
  at its root (as the original's format_results zips it)."""
  path = os.path.join(output_dir, "results.json")
  atomic_files.write_json(path, results)
  # A fixed timestamp: the same results give the same zip, byte for byte.
  entry = zipfile.ZipInfo("results.json", date_time=(1980, 1, 1, 0, 0, 0))
  entry.compress_type = zipfile.ZIP_DEFLATED
  with open(path, "rb") as f, zipfile.ZipFile(
      os.path.join(output_dir, SUBMISSION_ZIP), "w") as archive:
    archive.writestr(entry, f.read())


def picture(frames, results: list[dict], num_tracks: int = 3,
            max_frames: int = 8) -> np.ndarray:
  """At most `max_frames` evenly spaced frames side by side with the top
  `num_tracks` results painted on, each track in its own colour on every
  frame: [H, min(T, max_frames) * W, 3] uint8. `frames` is [T, H, W, 3]
  (an array or a vis_clips.VideoFrames)."""
  shown = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), max_frames)
                                ).round().astype(int))
  out = np.stack([frames[int(f)] for f in shown]).astype(np.float32)
  top = sorted(results, key=lambda r: -r["score"])[:num_tracks]
  colors = visualize.track_colors(np.arange(1, len(top) + 1)).astype(np.float32)
  for color, r in zip(colors, top):
    for i, f in enumerate(shown):
      seg = r["segmentations"][f]
      if seg is None:
        continue
      m = mask_utils.decode({"size": seg["size"],
                             "counts": seg["counts"].encode()}).astype(bool)
      out[i][m] = 0.5 * out[i][m] + 0.5 * color
  return np.concatenate(list(out.astype(np.uint8)), axis=1)


def format_table(metrics: dict) -> str:
  names = ("AP", "AP50", "AP75", "AP_s", "AP_m", "AP_l", "AR1", "AR10")
  return ("  ".join(f"{n:>6s}" for n in names) + "\n"
          + "  ".join(f"{100 * metrics[n]:6.2f}" for n in names))
