"""`evaluate.py --split=test` (YouTube-VIS: `valid`) writes a complete
submission for each of the five benchmarks on its generated set, in the
benchmark's layout, file by file; nothing is scored (no metrics.json) and the
printed result says so in one line.

The three panoptic benchmarks share one prediction path (checked with real
models on labelled splits elsewhere): a fake predictor paints a fixed pattern
so that these tests check the writing, not a network. VSPW and YouTube-VIS run
the tiny real models of tests/task_configs.py."""
import io
import json
import os
import zipfile

import jax
import numpy as np
import pytest
from PIL import Image

from tests import task_configs
from video_knet_jax import tasks
from video_knet_jax.configs import cityscapes_vps
from video_knet_jax.configs import synthetic_step
from video_knet_jax.configs import vipseg
from video_knet_jax.data import prepare
from video_knet_jax.datasets import registry
from video_knet_jax.eval import driver
from video_knet_jax.inference import predictor as predictor_lib

TEST = driver.EvalOptions(split="test")


class _PatternPredictor:
  """VideoPredictor's evaluation interface: class 0 everywhere, a square of
  `thing` (track id 1 + frame % 2) in the top-left corner, no network."""
  thing = 13

  def __init__(self, model, variables, config, association="embedding"):
    del model, variables, config, association

  def predict_eval_sequence(self, frames):
    for frame in frames:
      h, w = frame["original_size"]
      t = int(frame["frame_index"])
      semantic = np.zeros((h, w), np.int32)
      ids = np.zeros((h, w), np.int32)
      semantic[:8, :8], ids[:8, :8] = self.thing, 1 + t % 2
      yield predictor_lib.FrameResult(semantic=semantic, ids=ids,
                                      frame_index=t)


def _files(root):
  return sorted(os.path.relpath(os.path.join(d, f), root)
                for d, _, names in os.walk(root) for f in names)


def _evaluate_unlabelled(config, variables, out, options=TEST):
  metrics = driver.evaluate(config, variables, out, options)
  assert metrics == {} and not os.path.exists(os.path.join(out, "metrics.json"))
  assert driver.describe(config, metrics, "src", out).splitlines()[2] == driver.UNSCORED
  return _files(out)


def _rgb(path):
  return np.asarray(Image.open(path).convert("RGB")).astype(np.int64)


def test_kitti_step_test_split_writes_every_frame(tmp_path, monkeypatch):
  """KITTI-STEP's server takes <seq %04d>/<frame %06d>.png of every test
  frame, R = class, G * 256 + B = track id (before, unlabelled frames were
  skipped before the PNGs were written, so nothing was)."""
  config = synthetic_step.get_config("debug")
  config.data.synthetic.update(num_train_sequences=1, num_val_sequences=1,
                               num_test_sequences=2, frames_per_sequence=3,
                               height=32, width=64)
  config.data.data_dir = str(tmp_path / "tfds")
  monkeypatch.setattr(predictor_lib, "VideoPredictor", _PatternPredictor)
  out = str(tmp_path / "out")
  files = _evaluate_unlabelled(config, {}, out)
  pngs = [f for f in files if f.startswith("predictions/")]
  # Test sequences follow val (first_val_sequence 1000, one val sequence).
  assert pngs == [f"predictions/{s:04d}/{t:06d}.png"
                  for s in (1001, 1002) for t in range(3)]
  rgb = _rgb(os.path.join(out, "predictions", "1001", "000001.png"))
  assert rgb.shape == (32, 64, 3)
  assert (rgb[0, 0] == (13, 0, 2)).all() and (rgb[-1, -1] == 0).all()
  assert [f for f in files if f.startswith("pictures/")]   # prediction only.


def _coco_segments(path):
  rgb = _rgb(path)
  return np.unique(rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2])


def test_cityscapes_vps_test_split_writes_the_vpsnet_layout(tmp_path,
                                                            monkeypatch):
  """predictions/: pan_pred/<image id>.png of the 6 labelled-position frames of each test
  video (5th, 10th, ... 30th) and pred.json listing them in that order."""
  config = cityscapes_vps.get_config("debug")
  config.data.generated.update(num_train=1, num_val=1, num_test=1,
                               height=32, width=64)
  config.data.eval_size = (32, 64)
  config.data.data_dir = str(tmp_path / "tfds")
  monkeypatch.setattr(predictor_lib, "VideoPredictor", _PatternPredictor)
  out = str(tmp_path / "out")
  files = _evaluate_unlabelled(config, {}, out)
  tree = registry.manual_dir(config, prepare.data_dir_root(config))
  images = sorted(os.listdir(os.path.join(tree, "test", "img_all")))
  assert len(images) == 30
  image_ids = [name.rsplit("_", 1)[0] for name in images[4::5]]
  assert [f for f in files if f.startswith("predictions/")] == sorted(
      [f"predictions/pan_pred/{i}.png" for i in image_ids]
      + ["predictions/pred.json"])
  with open(os.path.join(out, "predictions", "pred.json")) as f:
    annotations = json.load(f)["annotations"]
  assert [a["image_id"] for a in annotations] == image_ids
  assert [a["file_name"] for a in annotations] == [f"{i}.png" for i in image_ids]
  for a in annotations:
    ids = _coco_segments(os.path.join(out, "predictions", "pan_pred",
                                      a["file_name"]))
    assert sorted(s["id"] for s in a["segments_info"]) == ids[ids > 0].tolist()
    assert {s["category_id"] for s in a["segments_info"]} == {0, 13}


def test_vipseg_test_split_writes_every_frame(tmp_path, monkeypatch):
  """predictions/: pan_pred/<video>/<frame>.png of every test frame and pred.json
  {annotations: [{video_id, annotations: [...]}]} (VIPSeg's own scripts)."""
  config = vipseg.get_config("debug")
  config.data.generated.update(num_train=1, num_val=1, num_test=2,
                               frames_per_video=3, height=32, width=48)
  config.data.eval_size = (32, 64)
  config.data.data_dir = str(tmp_path / "tfds")
  monkeypatch.setattr(predictor_lib, "VideoPredictor", _PatternPredictor)
  out = str(tmp_path / "out")
  files = _evaluate_unlabelled(config, {}, out)
  tree = registry.manual_dir(config, prepare.data_dir_root(config))
  with open(os.path.join(tree, "test.txt")) as f:
    videos = f.read().split()
  assert len(videos) == 2 and not os.path.exists(
      os.path.join(tree, "panomasksRGB", videos[0]))
  frames = {v: sorted(n[:-4] for n in os.listdir(os.path.join(tree, "images", v)))
            for v in videos}
  assert [f for f in files if f.startswith("predictions/")] == sorted(
      [f"predictions/pan_pred/{v}/{n}.png" for v in videos for n in frames[v]]
      + ["predictions/pred.json"])
  with open(os.path.join(out, "predictions", "pred.json")) as f:
    entries = json.load(f)["annotations"]
  assert [e["video_id"] for e in entries] == videos
  for e in entries:
    assert [a["file_name"] for a in e["annotations"]] == [
        f"{n}.png" for n in frames[e["video_id"]]]


def _real_variables(config):
  module = tasks.get(config)
  model = module.build_model(config)
  return jax.device_get(jax.jit(
      lambda r: module.init_variables(model, config, r))(jax.random.key(0)))


def test_vspw_test_split_writes_every_frame_without_masks(tmp_path):
  """predictions/<video>/<frame>.png (class ids 0..123) of every test frame;
  the test videos have no mask/ folder to read."""
  config = task_configs.tiny_config("semantic", str(tmp_path / "tfds"))
  config.data.generated.videos = (("train", 1), ("val", 1), ("test", 2))
  out = str(tmp_path / "out")
  files = _evaluate_unlabelled(config, _real_variables(config), out)
  tree = registry.manual_dir(config, prepare.data_dir_root(config))
  with open(os.path.join(tree, "test.txt")) as f:
    videos = f.read().split()
  expected = []
  for v in videos:
    assert not os.path.exists(os.path.join(tree, "data", v, "mask"))
    expected += [f"predictions/{v}/{n[:-4]}.png" for n in
                 os.listdir(os.path.join(tree, "data", v, "origin"))]
  assert len(videos) == 2 and len(expected) == 12
  assert [f for f in files if f.startswith("predictions/")] == sorted(expected)
  pred = np.asarray(Image.open(os.path.join(out, expected[0])))
  assert pred.shape == (32, 32) and pred.max() < 124


def test_youtube_vis_valid_split_writes_the_zipped_results(tmp_path):
  """results.json (10 tracks per video, an RLE on every frame) and
  submission_file.zip holding it alone, as the CodaLab server takes it."""
  config = task_configs.tiny_config("instance", str(tmp_path / "tfds"))
  config.data.synthetic.update(num_valid_videos=2)
  out = str(tmp_path / "out")
  files = _evaluate_unlabelled(config, _real_variables(config), out,
                               driver.EvalOptions(split="valid"))
  assert "groundtruth.json" not in files and "results.json" in files
  with open(os.path.join(out, "results.json")) as f:
    results = json.load(f)
  with zipfile.ZipFile(os.path.join(out, "submission_file.zip")) as archive:
    assert archive.namelist() == ["results.json"]
    assert json.load(io.BytesIO(archive.read("results.json"))) == results
  # The valid videos come after the 3 train videos (ids 4 and 5).
  assert sorted({r["video_id"] for r in results}) == [4, 5]
  for r in results:
    assert len(r["segmentations"]) == 4
    assert all(s["size"] == [32, 64] and s["counts"] for s in r["segmentations"])
    assert 1 <= r["category_id"] <= 40 and 0 <= r["score"] <= 1
  assert [f for f in files if f.startswith("pictures/")] == [
      "pictures/4.png", "pictures/5.png"]
