r"""Scores prediction folders in each benchmark's official format.

  python -m video_knet_jax.evaluation.score_folders --dataset=kitti_step \
      --groundtruth=DIR --predictions=DIR --output=metrics.json

Metric values are in [0, 1] (papers print x100). NaN (undefined, see each
metric's module) is written as null. Any missing frame, size mismatch, unknown
class or id, or malformed JSON raises an error naming the file.

Expected layouts
----------------
kitti_step (KITTI-STEP panoptic PNGs: R = semantic trainId 0..18 / 255 void,
  G * 256 + B = instance/track id):
    groundtruth: <GT>/<seq>/<frame>.png  (deeplab2: panoptic_maps/val/0002/000000.png)
             or  <GT>/<seq %06d>_<frame %06d>_panoptic.png  (Video K-Net flat layout)
    predictions: <PRED>/<seq>/<frame>.png in the same colour format (the KITTI-STEP
                 submission format; Video K-Net writes it to <out>/final/).
  Sequence and frame names are compared as integers. Reports STQ with the
  official protocol ("STQ"), STQ with the Video K-Net paper protocol
  ("STQ_video_knet"), and VPQ with the Video K-Net script protocol over windows
  of 1..4 frames ("VPQ"). Option num_workers (default 1) scores sequences in
  parallel processes.

cityscapes_vps (COCO-panoptic PNG + JSON, VPSNet tools/eval_vpq.py):
    groundtruth: <GT>/panoptic_gt_val_city_vps.json (or the only *.json there) and
                 <GT>/panoptic_video/<annotation file_name>.png
    predictions: <PRED>/pred.json  ({"annotations": [{image_id, segments_info}]})
                 <PRED>/pan_pred/<image_id>.png
  Videos = image ids grouped by their first "_" field, frames ordered by gt file
  name. Reports VPQ (mean over k = 0, 5, 10, 15), per-k PQ/SQ/RQ; "PQ" = k=0 (image
  PQ over all annotated frames). Option reference_area_aliasing (default False:
  the official script at its current head) reproduces the script before its
  2020-09-30 fix, which accumulated tube areas in place.

vipseg (COCO-panoptic PNG + per-video JSON, VIPSeg-Dataset's ClipPanoFCN/eval_vpq_vspw.py
  and eval_stq_vspw.py):
    groundtruth: <GT>/panoptic_gt_VIPSeg_val.json (or the only *.json there, or that
                 file itself) and <GT>/panomasksRGB/<video>/<image file_name>.png
                 (the data set's VIPSeg_720P/ after its scripts)
    predictions: <PRED>/pred.json ({"annotations": [{video_id, annotations: [{image_id,
                 segments_info} per frame, in the gt's frame order]}]}) and
                 <PRED>/pan_pred/<video>/<image file_name>.png
  Every frame is scored. Reports VPQ as eval_vpq_vspw.py: windows of 1, 2, 4, 6 and 8
  frames ("per_k" names them k = 0, 5, 15, 25, 35 as the script's vpq-<k>.txt), VPSNet
  tube matching, mean over the windows; and STQ, AQ, SQ (IoU) as eval_stq_vspw.py:
  124 classes, things from the gt categories, each segment id of a video numbered
  by first appearance in its JSON (so a video whose first listed segment is a
  thing has that thing as crowd, as the script does).

vspw (single-channel mask PNGs):
    groundtruth: <GT>/data/<video>/mask/<frame>.png  (or <GT>/<video>/mask/...);
                 raw values 0 = others, 1..124 classes, 255 void; if <GT>/val.txt
                 exists only the videos it lists are scored.
    predictions: <PRED>/<video>/<frame>.png with class indices 0..123
                 (= raw gt value - 1).
  Reports mIoU (gt mapped 0 -> void, v -> v - 1), pixel accuracy, mVC_8, mVC_16
  (raw labels, as in VC_perclip.py).

youtube_vis (JSON):
    groundtruth: the annotation JSON file (or a directory holding one *.json)
    predictions: the results JSON file (or a directory holding results.json):
                 [{video_id, category_id, score, segmentations: [RLE | null per frame]}]
  Reports AP, AP50, AP75, AP_s, AP_m, AP_l, AR1, AR10, AR100, AR_s, AR_m, AR_l.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import glob
import json
import math
import multiprocessing
import os
import re
import sys
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

from video_knet_jax.datasets.kitti_step.facts import KITTI_STEP
from video_knet_jax.datasets.vipseg.facts import VIPSEG
from video_knet_jax.evaluation import coco_panoptic
from video_knet_jax.evaluation.miou import MeanIoU, vspw_mask_to_label
from video_knet_jax.evaluation.segment_counts import count_pairs
from video_knet_jax.evaluation.stq import STQ, kitti_step_stq
from video_knet_jax.evaluation.video_consistency import VideoConsistency
from video_knet_jax.evaluation.vpq import VideoPanopticQuality

DATASETS = ("kitti_step", "cityscapes_vps", "vipseg", "vspw", "youtube_vis")
KITTI_DIVISOR = 1 << 16   # G * 256 + B < 65536


class ScoringError(ValueError):
  """Bad input files (the message names the file)."""


def _read_png(path: str, channels: int) -> np.ndarray:
  if not os.path.isfile(path):
    raise ScoringError(f"missing file: {path}")
  try:
    with Image.open(path) as im:
      arr = np.array(im)
  except Exception as e:  # PIL raises many types for corrupt files.
    raise ScoringError(f"cannot read PNG {path}: {e}") from e
  if channels == 3 and (arr.ndim != 3 or arr.shape[-1] != 3):
    raise ScoringError(f"{path}: expected an RGB PNG, got array shape {arr.shape}")
  if channels == 1 and arr.ndim != 2:
    raise ScoringError(f"{path}: expected a single-channel PNG, got array shape {arr.shape}")
  return arr


def _read_json(path: str):
  if not os.path.isfile(path):
    raise ScoringError(f"missing file: {path}")
  try:
    with open(path) as f:
      return json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ScoringError(f"malformed JSON {path}: {e}") from e


# ----------------------------------------------------------------- KITTI-STEP

def _kitti_decode(path: str) -> np.ndarray:
  rgb = _read_png(path, 3).astype(np.int64)
  return rgb[..., 0] * KITTI_DIVISOR + rgb[..., 1] * 256 + rgb[..., 2]


_FLAT = re.compile(r"^(\d+)_(\d+)_panoptic\.png$")


def _kitti_index(root: str, allow_flat: bool) -> Dict[int, Dict[int, str]]:
  """{sequence: {frame: path}} of a KITTI-STEP folder."""
  if not os.path.isdir(root):
    raise ScoringError(f"not a directory: {root}")
  index: Dict[int, Dict[int, str]] = {}
  for name in sorted(os.listdir(root)):
    path = os.path.join(root, name)
    if os.path.isdir(path) and name.isdigit():
      frames = index.setdefault(int(name), {})
      for f in sorted(os.listdir(path)):
        stem, ext = os.path.splitext(f)
        if ext.lower() == ".png" and stem.isdigit():
          frames[int(stem)] = os.path.join(path, f)
    elif allow_flat and _FLAT.match(name):
      m = _FLAT.match(name)
      index.setdefault(int(m.group(1)), {})[int(m.group(2))] = path
  index = {s: f for s, f in index.items() if f}
  if not index:
    raise ScoringError(f"no KITTI-STEP PNGs found under {root} (expected <seq>/<frame>.png"
                       + (" or <seq>_<frame>_panoptic.png)" if allow_flat else ")"))
  return index


def kitti_pairs(gt_root: str, pred_root: str):
  """[(sequence, [(gt path, prediction path) per frame])] of two KITTI-STEP PNG
  folders; raises naming the first frame that has no counterpart."""
  gt = _kitti_index(gt_root, allow_flat=True)
  pred = _kitti_index(pred_root, allow_flat=False)
  pairs = []
  for seq, frames in sorted(gt.items()):
    pframes = pred.get(seq, {})
    for fr in sorted(frames):
      if fr not in pframes:
        raise ScoringError(f"missing prediction for sequence {seq} frame {fr} "
                           f"(ground truth {frames[fr]}) under {pred_root}")
    extra = sorted(set(pframes) - set(frames))
    if extra:
      raise ScoringError(f"prediction {pframes[extra[0]]} has no ground-truth frame")
    pairs.append((seq, [(frames[f], pframes[f]) for f in sorted(frames)]))
  extra = sorted(set(pred) - set(gt))
  if extra:
    raise ScoringError(f"predictions for sequence {extra[0]} under {pred_root} have no "
                       f"ground truth")
  return pairs


def kitti_frames(frames):
  """Yields (gt_path, pred_path, gt, pred) panoptic maps of (gt, pred) path pairs.

  Raises ScoringError naming the files when their sizes differ.
  """
  for gt_path, pred_path in frames:
    gt = _kitti_decode(gt_path)
    pred = _kitti_decode(pred_path)
    if gt.shape != pred.shape:
      raise ScoringError(f"{pred_path}: size {pred.shape[:2]} != ground truth "
                         f"{gt.shape[:2]} ({gt_path})")
    yield gt_path, pred_path, gt, pred


def _kitti_worker(sequences):
  stq = kitti_step_stq("official", KITTI_DIVISOR)
  stq_vk = kitti_step_stq("video_knet", KITTI_DIVISOR)
  vpq = VideoPanopticQuality(KITTI_STEP.num_classes, KITTI_STEP.thing_ids, KITTI_STEP.void_label,
                             KITTI_DIVISOR, (1, 2, 3, 4), "video_knet")
  for seq, frames in sequences:
    for gt_path, pred_path, gt, pred in kitti_frames(frames):
      try:
        counts = count_pairs(gt, pred)
        stq.update_counts(counts, seq)
        stq_vk.update_counts(counts, seq)
        vpq.update_counts(counts, seq)
      except ValueError as e:
        raise ScoringError(f"{pred_path} vs {gt_path}: {e}") from e
    vpq.end_sequence(seq)
  return stq, stq_vk, vpq


def _parallel(worker, chunks, num_workers):
  if num_workers <= 1 or len(chunks) <= 1:
    return [worker(c) for c in chunks]
  # Not 'fork': a process that imported JAX has threads, and forking it can
  # deadlock. The workers import only numpy code.
  ctx = multiprocessing.get_context(
      "forkserver" if sys.platform.startswith("linux") else "spawn")
  with concurrent.futures.ProcessPoolExecutor(num_workers, mp_context=ctx) as ex:
    return list(ex.map(worker, chunks))


def score_kitti_step(groundtruth: str, predictions: str, num_workers: int = 1) -> dict:
  pairs = kitti_pairs(groundtruth, predictions)
  # Longest sequences first, dealt round-robin to balance the workers.
  order = sorted(pairs, key=lambda p: -len(p[1]))
  n = max(1, min(num_workers, len(pairs)))
  chunks = [order[i::n] for i in range(n)]
  parts = _parallel(_kitti_worker, chunks, n)
  stq, stq_vk, vpq = parts[0]
  for a, b, c in parts[1:]:
    stq.merge(a)
    stq_vk.merge(b)
    vpq.merge(c)
  return {"STQ": _sorted_stq(stq.result()), "STQ_video_knet": _sorted_stq(stq_vk.result()),
          "VPQ": vpq.result(), "num_frames": sum(len(f) for _, f in pairs),
          "num_sequences": len(pairs)}


def _sorted_stq(res: dict) -> dict:
  order = np.argsort(res["ID_per_seq"], kind="stable")
  for key, val in list(res.items()):
    if key.endswith("_per_seq"):
      res[key] = [val[i] for i in order]
  return res


# -------------------------------------------------------------- Cityscapes-VPS

def _find_json(root: str, preferred: Sequence[str]) -> str:
  if os.path.isfile(root):
    return root
  for name in preferred:
    if os.path.isfile(os.path.join(root, name)):
      return os.path.join(root, name)
  found = sorted(glob.glob(os.path.join(root, "*.json")))
  if len(found) != 1:
    raise ScoringError(f"expected one of {list(preferred)} (or exactly one *.json) in {root}, "
                       f"found {[os.path.basename(f) for f in found]}")
  return found[0]


def _categories(gt_data, path) -> List[dict]:
  """The gt JSON's categories as [{id, isthing}]."""
  if not isinstance(gt_data, dict) or "categories" not in gt_data:
    raise ScoringError(f"{path}: no 'categories'")
  try:
    return [{"id": int(c["id"]), "isthing": int(c.get("isthing", 0))}
            for c in gt_data["categories"]]
  except (KeyError, TypeError, ValueError) as e:
    raise ScoringError(f"{path}: malformed categories ({e!r})") from e


def _annotations_by_image(data, path):
  if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
    raise ScoringError(f"{path}: expected an object with an 'annotations' list")
  out = {}
  for k, ann in enumerate(data["annotations"]):
    if (not isinstance(ann, dict) or "image_id" not in ann
        or not isinstance(ann.get("segments_info"), list)):
      raise ScoringError(f"{path}: annotation #{k} needs 'image_id' and a 'segments_info' list")
    if ann["image_id"] in out:
      raise ScoringError(f"{path}: image_id {ann['image_id']!r} annotated twice")
    out[ann["image_id"]] = ann
  return out


def score_cityscapes_vps(groundtruth: str, predictions: str,
                         reference_area_aliasing: bool = False) -> dict:
  gt_json_path = _find_json(groundtruth, ["panoptic_gt_val_city_vps.json"])
  gt_root = groundtruth if os.path.isdir(groundtruth) else os.path.dirname(groundtruth)
  gt_data = _read_json(gt_json_path)
  categories = _categories(gt_data, gt_json_path)
  gt_anns = _annotations_by_image(gt_data, gt_json_path)
  pred_json_path = _find_json(predictions, ["pred.json"])
  pred_root = predictions if os.path.isdir(predictions) else os.path.dirname(predictions)
  pred_anns = _annotations_by_image(_read_json(pred_json_path), pred_json_path)
  unknown = sorted(set(map(str, pred_anns)) - set(map(str, gt_anns)))
  if unknown:
    raise ScoringError(f"{pred_json_path}: unknown image_id {unknown[0]!r}")

  frames = []
  for image_id, ann in gt_anns.items():
    file_name = ann.get("file_name") or f"{image_id}.png"
    frames.append((str(file_name), image_id, ann))
  frames.sort(key=lambda f: f[0])  # VPSNet orders frames by gt file name.
  vpq = coco_panoptic.CocoVideoPanopticQuality(
      categories, (1, 2, 3, 4), 5, reference_area_aliasing)
  for file_name, image_id, ann in frames:
    if image_id not in pred_anns:
      raise ScoringError(f"{pred_json_path}: no prediction for image_id {image_id!r}")
    gt_png = os.path.join(gt_root, "panoptic_video", file_name)
    pred_png = os.path.join(pred_root, "pan_pred", f"{image_id}.png")
    gt_ids = coco_panoptic.rgb_to_id(_read_png(gt_png, 3))
    pred_ids = coco_panoptic.rgb_to_id(_read_png(pred_png, 3))
    if gt_ids.shape != pred_ids.shape:
      raise ScoringError(f"{pred_png}: size {pred_ids.shape} != ground truth {gt_ids.shape}")
    video = str(image_id).split("_")[0]
    try:
      vpq.update(video, gt_ids, ann["segments_info"], pred_ids,
                 pred_anns[image_id]["segments_info"], name=f"{pred_png} vs {gt_png}")
    except ValueError as e:
      raise ScoringError(str(e)) from e
  res = vpq.result()
  res["PQ"] = res["per_k"]["0"]["All"]["PQ"]
  res["num_frames"] = len(frames)
  return res


# ---------------------------------------------------------------------- VIPSeg

VIPSEG_VPQ_WINDOWS = (1, 2, 4, 6, 8)   # eval_vpq_vspw.py: nframes in [1, 2, 4, 6, 8].
VIPSEG_STQ_SHIFT = 16                   # eval_stq_vspw.py: (semantic << 16) + instance.


def _videos_by_id(data, path, key="annotations"):
  """{video_id: per-frame annotation list} of a VIPSeg JSON."""
  if not isinstance(data, dict) or not isinstance(data.get(key), list):
    raise ScoringError(f"{path}: expected an object with an '{key}' list")
  out = {}
  for k, video in enumerate(data[key]):
    if (not isinstance(video, dict) or "video_id" not in video
        or not isinstance(video.get("annotations"), list)):
      raise ScoringError(f"{path}: {key} #{k} needs 'video_id' and an 'annotations' list")
    if video["video_id"] in out:
      raise ScoringError(f"{path}: video_id {video['video_id']!r} listed twice")
    out[video["video_id"]] = video["annotations"]
  return out


def _instance_numbers(frames, path) -> Dict[int, int]:
  """eval_stq_vspw.py's instance ids: a video's segment ids numbered 0, 1, ...
  in order of first appearance over its frames' segments_info."""
  numbers: Dict[int, int] = {}
  for k, frame in enumerate(frames):
    if not isinstance(frame, dict) or not isinstance(frame.get("segments_info"), list):
      raise ScoringError(f"{path}: frame annotation #{k} has no 'segments_info' list")
    for seg in frame["segments_info"]:
      numbers.setdefault(int(seg["id"]), len(numbers))
  return numbers


def _stq_labels(ids: np.ndarray, segments, numbers: Dict[int, int], void: int) -> np.ndarray:
  """(category << 16) + instance number per pixel; pixels of no listed segment
  (VOID) get (void << 16) + void, as eval_stq_vspw.py's 255 fill."""
  values, inverse = np.unique(ids, return_inverse=True)
  lookup = np.full(len(values), (void << VIPSEG_STQ_SHIFT) + void, np.int64)
  index = {int(v): k for k, v in enumerate(values)}
  for seg in segments:
    k = index.get(int(seg["id"]))
    if k is not None:
      lookup[k] = (int(seg["category_id"]) << VIPSEG_STQ_SHIFT) + numbers[int(seg["id"])]
  return lookup[inverse].reshape(ids.shape)


def score_vipseg(groundtruth: str, predictions: str) -> dict:
  gt_json_path = _find_json(groundtruth, ["panoptic_gt_VIPSeg_val.json"])
  mask_root = os.path.join(os.path.dirname(gt_json_path), "panomasksRGB")
  gt_data = _read_json(gt_json_path)
  categories = _categories(gt_data, gt_json_path)
  if not isinstance(gt_data.get("videos"), list):
    raise ScoringError(f"{gt_json_path}: no 'videos' list")
  gt_videos = _videos_by_id(gt_data, gt_json_path)
  pred_json_path = _find_json(predictions, ["pred.json"])
  pred_root = predictions if os.path.isdir(predictions) else os.path.dirname(predictions)
  pred_videos = _videos_by_id(_read_json(pred_json_path), pred_json_path)
  known = {v.get("video_id") for v in gt_data["videos"] if isinstance(v, dict)}
  unknown = sorted(map(str, set(pred_videos) - known))
  if unknown:
    raise ScoringError(f"{pred_json_path}: unknown video_id {unknown[0]!r}")

  vpq = coco_panoptic.CocoVideoPanopticQuality(categories, VIPSEG_VPQ_WINDOWS, 5)
  things = [c["id"] for c in categories if c["isthing"]]
  stq = STQ(VIPSEG.num_classes, things, VIPSEG.void_label, 1 << VIPSEG_STQ_SHIFT)
  num_frames = 0
  for seq_index, video in enumerate(gt_data["videos"]):
    video_id = video["video_id"]
    images = video.get("images", [])
    gt_frames = gt_videos.get(video_id)
    if gt_frames is None or len(gt_frames) != len(images):
      raise ScoringError(f"{gt_json_path}: video {video_id!r} lists {len(images)} images "
                         f"and {len(gt_frames or [])} annotations")
    pred_frames = pred_videos.get(video_id)
    if pred_frames is None:
      raise ScoringError(f"{pred_json_path}: no prediction for video {video_id!r}")
    if len(pred_frames) != len(gt_frames):
      raise ScoringError(f"{pred_json_path}: video {video_id!r} has {len(pred_frames)} "
                         f"frame annotations, the ground truth {len(gt_frames)}")
    gt_numbers = _instance_numbers(gt_frames, gt_json_path)
    pred_numbers = _instance_numbers(pred_frames, pred_json_path)
    # Frames pair by position, as the script's zip (image ids are checked).
    for image, gt_ann, pred_ann in zip(images, gt_frames, pred_frames):
      name = image["file_name"]
      if "image_id" in pred_ann and str(pred_ann["image_id"]) != str(gt_ann.get("image_id")):
        raise ScoringError(f"{pred_json_path}: video {video_id!r} frame {name}: image_id "
                           f"{pred_ann['image_id']!r}, ground truth {gt_ann.get('image_id')!r}")
      gt_png = os.path.join(mask_root, video_id, name)
      pred_png = os.path.join(pred_root, "pan_pred", video_id, name)
      gt_ids = coco_panoptic.rgb_to_id(_read_png(gt_png, 3))
      pred_ids = coco_panoptic.rgb_to_id(_read_png(pred_png, 3))
      if gt_ids.shape != pred_ids.shape:
        raise ScoringError(f"{pred_png}: size {pred_ids.shape} != ground truth {gt_ids.shape}")
      try:
        vpq.update(video_id, gt_ids, gt_ann["segments_info"], pred_ids,
                   pred_ann["segments_info"], name=f"{pred_png} vs {gt_png}")
        stq.update(_stq_labels(gt_ids, gt_ann["segments_info"], gt_numbers, VIPSEG.void_label),
                   _stq_labels(pred_ids, pred_ann["segments_info"], pred_numbers,
                               VIPSEG.void_label), seq_index)
      except ValueError as e:
        raise ScoringError(str(e)) from e
      num_frames += 1
  res = vpq.result()
  st = stq.result()
  res.update(STQ=st["STQ"], AQ=st["AQ"], SQ=st["IoU"],
             STQ_per_video={gt_data["videos"][i]["video_id"]: v
                            for i, v in zip(st["ID_per_seq"], st["STQ_per_seq"])})
  res["num_frames"] = num_frames
  res["num_videos"] = len(gt_data["videos"])
  return res


# ------------------------------------------------------------------------ VSPW

def _vspw_videos(root: str) -> Tuple[str, List[str]]:
  data = os.path.join(root, "data")
  base = data if os.path.isdir(data) else root
  if not os.path.isdir(base):
    raise ScoringError(f"not a directory: {root}")
  split = os.path.join(root, "val.txt")
  if os.path.isfile(split):
    with open(split) as f:
      videos = [line.strip() for line in f if line.strip()]
  else:
    videos = sorted(v for v in os.listdir(base) if os.path.isdir(os.path.join(base, v, "mask")))
  if not videos:
    raise ScoringError(f"no VSPW videos (<video>/mask/*.png) under {base}")
  return base, videos


def score_vspw(groundtruth: str, predictions: str, num_classes: int = 124) -> dict:
  base, videos = _vspw_videos(groundtruth)
  miou = MeanIoU(num_classes)
  vc = VideoConsistency((8, 16))
  for video in videos:
    mask_dir = os.path.join(base, video, "mask")
    if not os.path.isdir(mask_dir):
      raise ScoringError(f"missing ground-truth folder {mask_dir}")
    names = sorted(f for f in os.listdir(mask_dir) if f.endswith(".png"))
    pred_dir = os.path.join(predictions, video)
    if not os.path.isdir(pred_dir):
      raise ScoringError(f"missing prediction folder {pred_dir}")
    extra = sorted(set(f for f in os.listdir(pred_dir) if f.endswith(".png")) - set(names))
    if extra:
      raise ScoringError(f"prediction {os.path.join(pred_dir, extra[0])} has no ground truth")
    for name in names:
      gt_path = os.path.join(mask_dir, name)
      pred_path = os.path.join(pred_dir, name)
      raw = _read_png(gt_path, 1)
      pred = _read_png(pred_path, 1)
      if raw.shape != pred.shape:
        raise ScoringError(f"{pred_path}: size {pred.shape} != ground truth {raw.shape}")
      try:
        miou.update(vspw_mask_to_label(raw), pred, name=pred_path)
      except ValueError as e:
        raise ScoringError(str(e)) from e
      vc.update(raw, pred, video, name=pred_path)
    vc.end_video(video)
  out = miou.result()
  out.update(vc.result())
  out["num_videos"] = len(videos)
  return out


# ----------------------------------------------------------------- YouTube-VIS

def score_youtube_vis(groundtruth: str, predictions: str) -> dict:
  # pycocotools (RLE) is only needed here; imported lazily so the other
  # datasets score without it.
  from video_knet_jax.evaluation.ytvis_ap import YouTubeVISEval  # pylint: disable=g-import-not-at-top
  gt_path = _find_json(groundtruth, ["valid.json", "instances.json"])
  pred_path = _find_json(predictions, ["results.json"])
  try:
    ev = YouTubeVISEval(_read_json(gt_path), name=gt_path)
    res = ev.evaluate(_read_json(pred_path), name=pred_path)
  except ValueError as e:
    raise ScoringError(str(e)) from e
  return dict(res["stats"])


# ------------------------------------------------------------------------ CLI

def score(dataset: str, groundtruth: str, predictions: str, **options) -> dict:
  """Scores a prediction folder; see the module docstring for layouts."""
  if dataset == "kitti_step":
    return score_kitti_step(groundtruth, predictions, **options)
  if dataset == "cityscapes_vps":
    return score_cityscapes_vps(groundtruth, predictions, **options)
  if dataset == "vipseg":
    return score_vipseg(groundtruth, predictions, **options)
  if dataset == "vspw":
    return score_vspw(groundtruth, predictions, **options)
  if dataset == "youtube_vis":
    return score_youtube_vis(groundtruth, predictions, **options)
  raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")


def to_json(obj):
  """JSON-safe copy: NaN/inf -> None, numpy -> python."""
  if isinstance(obj, dict):
    return {str(k): to_json(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [to_json(v) for v in obj]
  if isinstance(obj, np.ndarray):
    return to_json(obj.tolist())
  if isinstance(obj, np.generic):
    obj = obj.item()
  if isinstance(obj, float) and not math.isfinite(obj):
    return None
  return obj


def summary(metrics: dict) -> dict:
  """Top-level scalars plus the scalars one level down (e.g. 'STQ/AQ')."""
  out = {}
  for key, val in to_json(metrics).items():
    if isinstance(val, dict):
      out.update({f"{key}/{k}": v for k, v in val.items()
                  if not isinstance(v, (dict, list))})
    elif not isinstance(val, list):
      out[key] = val
  return out


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--dataset", required=True, choices=DATASETS)
  parser.add_argument("--groundtruth", required=True)
  parser.add_argument("--predictions", required=True)
  parser.add_argument("--output", default="", help="metrics JSON path ('' = stdout only)")
  parser.add_argument("--num_workers", type=int, default=1, help="kitti_step: processes")
  parser.add_argument("--reference_area_aliasing", action="store_true",
                      help="cityscapes_vps: VPQ as the official script computed "
                      "it before its 2020-09-30 fix (in-place tube areas)")
  args = parser.parse_args(argv)
  options = {}
  if args.dataset == "kitti_step":
    options["num_workers"] = args.num_workers
  if args.dataset == "cityscapes_vps":
    options["reference_area_aliasing"] = args.reference_area_aliasing
  try:
    metrics = score(args.dataset, args.groundtruth, args.predictions, **options)
  except ScoringError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  text = json.dumps(to_json(metrics), indent=1, sort_keys=True)
  if args.output:
    from video_knet_jax import atomic_files  # pylint: disable=g-import-not-at-top
    atomic_files.write_text(args.output, text + "\n")   # temp + rename.
  print(json.dumps(summary(metrics), sort_keys=True))
  return 0


if __name__ == "__main__":
  sys.exit(main())
