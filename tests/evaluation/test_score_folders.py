"""Folder scoring on small fixtures written in each benchmark's official format."""
import json
import os

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from tests.evaluation import random_cases, slow_metrics
from video_knet_jax.datasets import coco_panoptic_video
from video_knet_jax.datasets.vipseg.facts import VIPSEG
from video_knet_jax.evaluation import coco_panoptic, score_folders


def _png(path, arr):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(np.asarray(arr).astype(np.uint8)).save(path)


def _kitti_rgb(ids, divisor=1000):
  sem, inst = ids // divisor, ids % divisor
  return np.stack([sem, inst // 256, inst % 256], -1)


# ---------------------------------------------------------------- KITTI-STEP

def _kitti_fixture(root, rng, flat_gt=False):
  videos = {}
  for seq in (2, 6):
    gts, preds = random_cases.random_video(rng, 4, shape=(6, 8), num_classes=19,
                                           things=(11, 13))
    videos[seq] = list(zip(gts, preds))
    for f, (g, p) in enumerate(zip(gts, preds)):
      if flat_gt:
        _png(os.path.join(root, "gt", f"{seq:06d}_{f:06d}_panoptic.png"), _kitti_rgb(g))
      else:
        _png(os.path.join(root, "gt", f"{seq:04d}", f"{f:06d}.png"), _kitti_rgb(g))
      _png(os.path.join(root, "pred", f"{seq:04d}", f"{f:06d}.png"), _kitti_rgb(p))
  return videos


@pytest.mark.parametrize("flat_gt,workers", [(False, 1), (True, 2)])
def test_kitti_step_scores_match_slow_references(tmp_path, flat_gt, workers):
  videos = _kitti_fixture(str(tmp_path), np.random.default_rng(0), flat_gt)
  r = score_folders.score("kitti_step", str(tmp_path / "gt"), str(tmp_path / "pred"),
                          num_workers=workers)
  frames = [(g, p, s) for s, fr in videos.items() for g, p in fr]
  for key, things, drop in (("STQ", (11, 13), False),
                            ("STQ_video_knet", tuple(range(11, 19)), True)):
    want = slow_metrics.slow_stq(frames, 19, things, 255, 1000, drop)
    assert r[key]["STQ"] == pytest.approx(want["STQ"], abs=1e-12)
    assert r[key]["ID_per_seq"] == [2, 6]
  seqs = list(videos.values())
  want = np.mean([slow_metrics.slow_vpq_video_knet(seqs, n, 19, (11, 13), 255, 1000)[0]
                  for n in (1, 2, 3, 4)])
  assert r["VPQ"]["VPQ"] == pytest.approx(want, abs=1e-12)
  assert r["num_frames"] == 8


def test_kitti_step_errors_name_the_file(tmp_path):
  _kitti_fixture(str(tmp_path), np.random.default_rng(1))
  gt, pred = str(tmp_path / "gt"), str(tmp_path / "pred")
  missing = os.path.join(pred, "0006", "000003.png")
  os.rename(missing, missing + ".bak")
  with pytest.raises(score_folders.ScoringError, match="missing prediction.*sequence 6 frame 3"):
    score_folders.score("kitti_step", gt, pred)
  _png(missing, np.zeros((5, 8, 3)))                          # wrong size
  with pytest.raises(score_folders.ScoringError, match="000003.png: size"):
    score_folders.score("kitti_step", gt, pred)
  _png(missing, np.full((6, 8, 3), [40, 0, 0]))               # unknown class 40
  with pytest.raises(score_folders.ScoringError, match="000003.png.*unknown predicted"):
    score_folders.score("kitti_step", gt, pred)
  _png(missing, np.zeros((6, 8)))                             # not RGB
  with pytest.raises(score_folders.ScoringError, match="000003.png: expected an RGB"):
    score_folders.score("kitti_step", gt, pred)


# ------------------------------------------------------------ Cityscapes-VPS

def _cityscapes_fixture(root, rng):
  cats = [{"id": c, "name": str(c), "isthing": int(c >= 11)} for c in range(19)]
  gt_json = {"categories": cats, "images": [], "annotations": []}
  pred_json = {"annotations": []}
  videos = []
  for v in range(2):
    gts, preds = random_cases.random_video(rng, 6, shape=(6, 8), num_classes=19,
                                           things=(11, 13))
    frames = []
    for f, (g, p) in enumerate(zip(gts, preds)):
      image_id = f"{v:04d}_{f * 5 + 5:04d}_city_000000_{f:06d}"
      file_name = image_id + "_final_mask.png"
      g_ids, g_segs = random_cases.to_coco(g, 1000, (11, 13), 255, True)
      p_ids, p_segs = random_cases.to_coco(p, 1000, (11, 13), 255, False)
      frames.append((g_ids, g_segs, p_ids, p_segs))
      _png(os.path.join(root, "gt", "panoptic_video", file_name), coco_panoptic.id_to_rgb(g_ids))
      _png(os.path.join(root, "pred", "pan_pred", image_id + ".png"),
           coco_panoptic.id_to_rgb(p_ids))
      gt_json["images"].append({"id": image_id, "file_name": image_id + "_newImg8bit.png"})
      gt_json["annotations"].append({"image_id": image_id, "file_name": file_name,
                                     "segments_info": g_segs})
      pred_json["annotations"].append({"image_id": image_id, "file_name": image_id + ".png",
                                       "segments_info": p_segs})
    videos.append(frames)
  with open(os.path.join(root, "gt", "panoptic_gt_val_city_vps.json"), "w") as f:
    json.dump(gt_json, f)
  with open(os.path.join(root, "pred", "pred.json"), "w") as f:
    json.dump(pred_json, f)
  return videos, cats


@pytest.mark.parametrize("options", [{}, {"reference_area_aliasing": True}])
def test_cityscapes_vps_matches_slow_vpsnet(tmp_path, options):
  videos, cats = _cityscapes_fixture(str(tmp_path), np.random.default_rng(2))
  r = score_folders.score("cityscapes_vps", str(tmp_path / "gt"), str(tmp_path / "pred"),
                          **options)
  per_n = [slow_metrics.slow_vpsnet_vpq(videos, cats, n, **{
      "aliasing": options.get("reference_area_aliasing", False)}) for n in (1, 2, 3, 4)]
  assert r["VPQ"] == pytest.approx(np.mean([v[0] for v in per_n]), abs=1e-12)
  assert r["VPQ_th"] == pytest.approx(np.mean([v[1] for v in per_n]), abs=1e-12)
  assert r["PQ"] == pytest.approx(per_n[0][0], abs=1e-12)
  assert r["per_k"]["15"]["num_windows"] == 6
  assert r["num_frames"] == 12


def test_cityscapes_vps_errors(tmp_path):
  _cityscapes_fixture(str(tmp_path), np.random.default_rng(3))
  gt, pred = str(tmp_path / "gt"), str(tmp_path / "pred")
  png = os.path.join(pred, "pan_pred", "0001_0010_city_000000_000001.png")
  _png(png, np.zeros((5, 8, 3)))
  with pytest.raises(score_folders.ScoringError, match="0001_0010_city_000000_000001.png: size"):
    score_folders.score("cityscapes_vps", gt, pred)
  os.remove(png)
  with pytest.raises(score_folders.ScoringError, match="missing file: .*0001_0010_city"):
    score_folders.score("cityscapes_vps", gt, pred)
  pred_json = os.path.join(pred, "pred.json")
  with open(pred_json) as f:
    data = json.load(f)
  data["annotations"][4]["segments_info"][0]["category_id"] = 77
  with open(pred_json, "w") as f:
    json.dump(data, f)
  with pytest.raises(score_folders.ScoringError, match=r"0000_0025.*\.png.*unknown category_id 77"):
    score_folders.score("cityscapes_vps", gt, pred)
  del data["annotations"][4]
  with open(pred_json, "w") as f:
    json.dump(data, f)
  with pytest.raises(score_folders.ScoringError, match="no prediction for image_id '0000_0025"):
    score_folders.score("cityscapes_vps", gt, pred)
  with open(pred_json, "w") as f:
    f.write("{not json")
  with pytest.raises(score_folders.ScoringError, match="malformed JSON .*pred.json"):
    score_folders.score("cityscapes_vps", gt, pred)


# -------------------------------------------------------------------- VIPSeg

_VIPSEG_THINGS = (2, 4)   # door, ladder: things in VIPSeg's categories too.


def _vipseg_fixture(root, rng):
  """Two videos (9 and 8 frames) in VIPSeg_720P's layout; in the second the
  first listed gt segment is a thing (eval_stq_vspw.py numbers it 0: crowd)."""
  cats = coco_panoptic_video.categories_json(VIPSEG)
  gt_json = {"videos": [], "annotations": [], "categories": cats}
  pred_json = {"annotations": []}
  videos = []
  for v, length in enumerate((9, 8)):
    video_id = f"{v + 1}_clip"
    gts, preds = random_cases.random_video(rng, length, shape=(6, 8), num_classes=6,
                                           things=_VIPSEG_THINGS)
    images, gt_frames, pred_frames, frames = [], [], [], []
    for f, (g, p) in enumerate(zip(gts, preds)):
      stem = f"{f:08d}"
      g_ids, g_segs = random_cases.to_coco(g, 1000, _VIPSEG_THINGS, 255, False)
      p_ids, p_segs = random_cases.to_coco(p, 1000, _VIPSEG_THINGS, 255, False)
      if v == 1 and f == 0:
        g_segs.sort(key=lambda seg: seg["category_id"] not in _VIPSEG_THINGS)
        assert g_segs[0]["category_id"] in _VIPSEG_THINGS
      _png(os.path.join(root, "gt", "panomasksRGB", video_id, stem + ".png"),
           coco_panoptic.id_to_rgb(g_ids))
      _png(os.path.join(root, "pred", "pan_pred", video_id, stem + ".png"),
           coco_panoptic.id_to_rgb(p_ids))
      images.append({"id": stem, "width": 8, "height": 6, "file_name": stem + ".png"})
      gt_frames.append({"image_id": stem, "file_name": stem + ".png", "segments_info": g_segs})
      pred_frames.append({"image_id": stem, "file_name": stem + ".png", "segments_info": p_segs})
      frames.append((g_ids, g_segs, p_ids, p_segs))
    gt_json["videos"].append({"video_id": video_id, "images": images})
    gt_json["annotations"].append({"video_id": video_id, "annotations": gt_frames})
    pred_json["annotations"].append({"video_id": video_id, "annotations": pred_frames})
    videos.append(frames)
  with open(os.path.join(root, "gt", "panoptic_gt_VIPSeg_val.json"), "w") as f:
    json.dump(gt_json, f)
  with open(os.path.join(root, "pred", "pred.json"), "w") as f:
    json.dump(pred_json, f)
  return videos, cats


def _vipseg_stq_frames(videos, shift_numbers=0):
  """eval_stq_vspw.py's labels, written out: (category << 16) + the segment's
  rank of first appearance in the video's JSON; unlisted pixels (255 << 16) + 255."""
  out = []
  for seq, frames in enumerate(videos):
    numbers = [{}, {}]
    for _, g_segs, _, p_segs in frames:
      for table, segs in zip(numbers, (g_segs, p_segs)):
        for seg in segs:
          table.setdefault(seg["id"], len(table) + shift_numbers)
    for g_ids, g_segs, p_ids, p_segs in frames:
      pair = []
      for ids, segs, table in ((g_ids, g_segs, numbers[0]), (p_ids, p_segs, numbers[1])):
        label = np.full(ids.shape, (255 << 16) + 255, np.int64)
        for seg in segs:
          label[ids == seg["id"]] = (seg["category_id"] << 16) + table[seg["id"]]
        pair.append(label)
      out.append((pair[0], pair[1], seq))
  return out


def test_vipseg_matches_slow_references_of_its_scripts(tmp_path, capsys):
  videos, cats = _vipseg_fixture(str(tmp_path), np.random.default_rng(5))
  r = score_folders.score("vipseg", str(tmp_path / "gt"), str(tmp_path / "pred"))
  per_n = {n: slow_metrics.slow_vpsnet_vpq(videos, cats, n) for n in (1, 2, 4, 6, 8)}
  assert r["VPQ"] == pytest.approx(np.mean([v[0] for v in per_n.values()]), abs=1e-12)
  assert r["VPQ_th"] == pytest.approx(np.mean([v[1] for v in per_n.values()]), abs=1e-12)
  assert r["VPQ_st"] == pytest.approx(np.mean([v[2] for v in per_n.values()]), abs=1e-12)
  for n, want in per_n.items():   # the script's vpq-<k>.txt, k = (n - 1) * 5.
    assert r["per_k"][str((n - 1) * 5)]["All"]["PQ"] == pytest.approx(want[0], abs=1e-12)
  assert r["per_k"]["35"]["num_windows"] == 2 + 1
  things = [c["id"] for c in cats if c["isthing"]]
  want = slow_metrics.slow_stq(_vipseg_stq_frames(videos), 124, things, 255, 1 << 16)
  assert (r["STQ"], r["AQ"], r["SQ"]) == pytest.approx(
      (want["STQ"], want["AQ"], want["IoU"]), abs=1e-12)
  # The thing numbered 0 is crowd: numbering from 1 would give another AQ.
  other = slow_metrics.slow_stq(_vipseg_stq_frames(videos, 1), 124, things, 255, 1 << 16)
  assert abs(other["AQ"] - r["AQ"]) > 1e-6
  assert (r["num_frames"], r["num_videos"]) == (17, 2)
  # Through the command line (evaluate.py --dataset=vipseg runs this main).
  out = tmp_path / "metrics.json"
  assert score_folders.main(["--dataset=vipseg", f"--groundtruth={tmp_path / 'gt'}",
                             f"--predictions={tmp_path / 'pred'}", f"--output={out}"]) == 0
  assert json.loads(out.read_text())["VPQ"] == pytest.approx(r["VPQ"], abs=1e-12)
  capsys.readouterr()


def test_vipseg_errors_name_the_file(tmp_path):
  _vipseg_fixture(str(tmp_path), np.random.default_rng(6))
  gt, pred = str(tmp_path / "gt"), str(tmp_path / "pred")
  png = os.path.join(pred, "pan_pred", "2_clip", "00000003.png")
  _png(png, np.zeros((5, 8, 3)))
  with pytest.raises(score_folders.ScoringError, match="2_clip/00000003.png: size"):
    score_folders.score("vipseg", gt, pred)
  os.remove(png)
  with pytest.raises(score_folders.ScoringError, match="missing file: .*2_clip/00000003.png"):
    score_folders.score("vipseg", gt, pred)
  pred_json = os.path.join(pred, "pred.json")
  with open(pred_json) as f:
    data = json.load(f)
  del data["annotations"][1]["annotations"][-1]
  with open(pred_json, "w") as f:
    json.dump(data, f)
  with pytest.raises(score_folders.ScoringError, match="video '2_clip' has 7 frame annotations"):
    score_folders.score("vipseg", gt, pred)
  del data["annotations"][1]
  with open(pred_json, "w") as f:
    json.dump(data, f)
  with pytest.raises(score_folders.ScoringError, match="no prediction for video '2_clip'"):
    score_folders.score("vipseg", gt, pred)


# ---------------------------------------------------------------------- VSPW

def test_vspw_matches_slow_loops(tmp_path):
  rng = np.random.default_rng(4)
  videos = []
  for v, t in (("1001_a", 10), ("1002_b", 18)):
    base = rng.integers(0, 6, (4, 5))
    frames = []
    for f in range(t):
      raw = np.where(rng.random((4, 5)) < 0.1, rng.integers(0, 6, (4, 5)), base)
      raw = np.where(rng.random((4, 5)) < 0.05, 255, raw)
      pred = np.where(rng.random((4, 5)) < 0.1, rng.integers(0, 5, (4, 5)),
                      np.clip(raw - 1, 0, 4))
      _png(str(tmp_path / "gt" / "data" / v / "mask" / f"{f:08d}.png"), raw)
      _png(str(tmp_path / "pred" / v / f"{f:08d}.png"), pred)
      frames.append((raw, pred))
    videos.append(frames)
  r = score_folders.score("vspw", str(tmp_path / "gt"), str(tmp_path / "pred"))
  mapped = [(np.where((g == 0) | (g == 255), 255, g - 1), p) for fr in videos for g, p in fr]
  assert r["mIoU"] == pytest.approx(slow_metrics.slow_vspw_miou(mapped, 124), abs=1e-12)
  assert r["mVC_8"] == pytest.approx(slow_metrics.slow_mvc(videos, 8), abs=1e-12)
  assert r["mVC_16"] == pytest.approx(slow_metrics.slow_mvc(videos, 16), abs=1e-12)
  assert r["windows_16"] == 2  # only the 18-frame video: range(18 - 16)
  bad = str(tmp_path / "pred" / "1001_a" / "00000003.png")
  _png(bad, np.full((4, 5), 124))                      # class index 124 does not exist
  with pytest.raises(score_folders.ScoringError, match="1001_a/00000003.png.*outside"):
    score_folders.score("vspw", str(tmp_path / "gt"), str(tmp_path / "pred"))
  _png(bad, np.zeros((4, 5)))
  os.remove(str(tmp_path / "pred" / "1002_b" / "00000017.png"))
  with pytest.raises(score_folders.ScoringError, match="missing file.*1002_b/00000017.png"):
    score_folders.score("vspw", str(tmp_path / "gt"), str(tmp_path / "pred"))


# --------------------------------------------------------------- YouTube-VIS

def test_youtube_vis_and_cli(tmp_path, capsys):
  m = np.zeros((4, 4), np.uint8)
  m[:2, :2] = 1
  rle = mask_utils.encode(np.asfortranarray(m))
  rle["counts"] = rle["counts"].decode()
  gt = {"videos": [{"id": 1, "height": 4, "width": 4, "length": 2, "file_names": ["a", "b"]}],
        "categories": [{"id": 1, "name": "person"}],
        "annotations": [{"id": 1, "video_id": 1, "category_id": 1, "iscrowd": 0,
                         "segmentations": [rle, rle], "areas": [4, 4]}]}
  res = [{"video_id": 1, "category_id": 1, "score": 0.9, "segmentations": [rle, None]}]
  (tmp_path / "gt.json").write_text(json.dumps(gt))
  (tmp_path / "pred").mkdir()
  (tmp_path / "pred" / "results.json").write_text(json.dumps(res))
  out = tmp_path / "metrics.json"
  rc = score_folders.main(["--dataset=youtube_vis", f"--groundtruth={tmp_path / 'gt.json'}",
                           f"--predictions={tmp_path / 'pred'}", f"--output={out}"])
  assert rc == 0
  metrics = json.loads(out.read_text())
  assert metrics["AP"] == pytest.approx(0.1) and metrics["AP50"] == pytest.approx(1.0)
  assert metrics["AP_m"] == -1.0
  (tmp_path / "pred" / "results.json").write_text(json.dumps([{"video_id": 1}]))
  rc = score_folders.main(["--dataset=youtube_vis", f"--groundtruth={tmp_path / 'gt.json'}",
                           f"--predictions={tmp_path / 'pred'}"])
  assert rc == 2
  assert "results.json: result #0" in capsys.readouterr().err


def test_to_json_replaces_nan():
  assert score_folders.to_json({"a": float("nan"), "b": [np.float64(1.5)]}) == \
      {"a": None, "b": [1.5]}
