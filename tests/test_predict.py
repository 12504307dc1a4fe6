"""predict: own video / frame folder in, PNGs + MP4 + GIF + tracks.json out.

The model is the hand-made fake of tests/inference/test_predictor.py (red
square = car A, green = car B), so tracks are known; the evaluate-vs-predict
check runs both paths on the same frames of a generated data set.
"""
import glob
import json
import os
import subprocess
import sys

import av
import numpy as np
import pytest
from PIL import Image

from tests.inference import test_predictor as fake
from video_knet_jax import api
from video_knet_jax import predict
from video_knet_jax.inference import kitti_step_png
from video_knet_jax.inference import video_io

CAR = 13
NUM_FRAMES = 6


def _frames():
  return [fake._frame(8 + 8 * t, 128 - 8 * t, swap=False) for t in range(NUM_FRAMES)]  # 60x180.


def _write_mp4(path, frames, fps=10):
  with av.open(path, "w") as container:
    stream = container.add_stream("libx264", rate=fps)
    stream.height, stream.width = frames[0].shape[:2]
    stream.pix_fmt = "yuv444p"       # no chroma blur at the squares' edges.
    stream.options = {"qp": "0"}
    for frame in frames:
      for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)


@pytest.fixture
def fake_model(monkeypatch):
  config = fake._config()
  model = api.VideoModel(config, {}, model=fake._FakeModel(config))
  monkeypatch.setattr(api, "load_model", lambda *args, **kwargs: model)
  return config


def _check_outputs(out, expected_frames, hw=(60, 180)):
  pngs = sorted(glob.glob(os.path.join(out, "panoptic", "*.png")))
  assert [int(os.path.basename(p)[:6]) for p in pngs] == expected_frames
  decoded = {}
  for path in pngs:
    semantic, ids = kitti_step_png.read_kitti_step_png(path)
    assert semantic.shape == hw
    decoded[int(os.path.basename(path)[:6])] = (semantic, ids)
  with av.open(os.path.join(out, "overlay.mp4")) as container:
    video = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
  assert len(video) == len(expected_frames) and video[0].shape == hw + (3,)
  with Image.open(os.path.join(out, "preview.gif")) as gif:
    assert gif.n_frames == len(expected_frames) and gif.size == hw[::-1]
  with open(os.path.join(out, "tracks.json")) as f:
    tracks = json.load(f)
  assert tracks["complete"] and tracks["num_frames"] == len(expected_frames)
  assert [t["id"] for t in tracks["tracks"]] == [1, 2]
  for track in tracks["tracks"]:
    assert (track["class_id"], track["class"]) == (CAR, "car")
    assert [f["frame"] for f in track["frames"]] == expected_frames
    assert (track["first_frame"], track["last_frame"]) == (expected_frames[0], expected_frames[-1])
    for entry in track["frames"]:    # consistent with the PNGs.
      semantic, ids = decoded[entry["frame"]]
      ys, xs = np.nonzero(ids == track["id"])
      assert entry["area"] == ys.size > 0
      assert entry["box"] == [xs.min(), ys.min(), xs.max(), ys.max()]
      assert (semantic[ys, xs] == CAR).all()
      assert entry["score"] == pytest.approx(0.9 if track["id"] == 1 else 0.8, abs=1e-4)
  return decoded


def test_predict_mp4_writes_pngs_video_gif_and_tracks(fake_model, tmp_path):
  del fake_model
  path = str(tmp_path / "clip.mp4")
  frames = _frames()
  _write_mp4(path, frames)
  out = str(tmp_path / "out")
  summary = predict.run(None, "unused", path, out, flush_every=2)
  assert summary["frames"] == NUM_FRAMES and summary["size"] == (60, 180)
  decoded = _check_outputs(out, list(range(NUM_FRAMES)))
  # Car A moves right 8 px per frame.
  assert decoded[3][1][24, 28 + 24] == 1 and decoded[3][1][24, 148 - 24] == 2


def test_predict_frame_folder_with_start_every_n(fake_model, tmp_path):
  del fake_model
  folder = tmp_path / "frames"
  folder.mkdir()
  for t, frame in enumerate(_frames()):
    Image.fromarray(frame).save(folder / f"f{t}.png")
  out = str(tmp_path / "out")
  predict.run(None, "unused", str(folder), out, start=1, every_n=2, max_frames=3)
  _check_outputs(out, [1, 3, 5])
  # The glob form picks the same frames.
  out_glob = str(tmp_path / "out_glob")
  predict.run(None, "unused", str(folder / "*.png"), out_glob, start=1, every_n=2,
              overlay_video=False, gif_frames=0)
  assert sorted(os.listdir(os.path.join(out_glob, "panoptic"))) == [
      "000001.png", "000003.png", "000005.png"]
  assert not os.path.exists(os.path.join(out_glob, "overlay.mp4"))


def test_a_failing_frame_leaves_a_valid_partial_tracks_json(fake_model, tmp_path):
  del fake_model
  folder = tmp_path / "frames"
  folder.mkdir()
  frames = _frames()
  for t, frame in enumerate(frames[:4]):
    Image.fromarray(frame).save(folder / f"{t:03d}.png")
  Image.fromarray(frames[4][:32]).save(folder / "004.png")     # another size.
  with pytest.raises(video_io.InputError, match="004.png"):
    predict.run(None, "unused", str(folder), str(tmp_path / "out"), flush_every=2)
  with open(tmp_path / "out" / "tracks.json") as f:
    tracks = json.load(f)
  # Frame 3 was still on the device (results are fetched one frame late).
  assert not tracks["complete"] and tracks["num_frames"] == 3
  assert [f["frame"] for f in tracks["tracks"][0]["frames"]] == [0, 1, 2]


def test_predict_and_evaluate_give_identical_maps(tmp_path, monkeypatch):
  """The same generated frames through panoptic_eval (data set) and predict (PNG files)."""
  from tests.data import conftest as data_conftest  # pylint: disable=g-import-not-at-top
  from video_knet_jax.tasks import panoptic_eval  # pylint: disable=g-import-not-at-top
  from video_knet_jax.data import prepare  # pylint: disable=g-import-not-at-top
  from video_knet_jax.models import video_knet  # pylint: disable=g-import-not-at-top
  config = data_conftest.load_config("synthetic_step", "debug")
  config.data.data_dir = str(tmp_path / "tfds")
  config.data.synthetic = dict(seed=0, num_train_sequences=1, num_val_sequences=1,
                               frames_per_sequence=4, height=60, width=180)
  config.data.eval_size = (96, 224)     # a larger canvas: both must pad to 64x192.
  monkeypatch.setattr(video_knet, "build_model", fake._FakeModel)
  panoptic_eval.evaluate_variables(config, {}, str(tmp_path / "eval"), num_pictures=0)
  evaluated = sorted(glob.glob(str(tmp_path / "eval" / "predictions" / "*" / "*.png")))
  assert len(evaluated) == 4
  sequence = os.path.basename(os.path.dirname(evaluated[0]))
  images = glob.glob(os.path.join(prepare.data_dir_root(config), "downloads", "manual", "**",
                                  "images", "val", sequence), recursive=True)
  assert len(images) == 1, images
  out = str(tmp_path / "predict")
  monkeypatch.setattr(api, "load_model", lambda cfg, *a, **k: api.VideoModel(
      cfg, {}, model=fake._FakeModel(cfg)))
  predict.run(config, "unused", images[0], out)
  for path in evaluated:
    mine = os.path.join(out, "panoptic", os.path.basename(path))
    for a, b in zip(kitti_step_png.read_kitti_step_png(path),
                    kitti_step_png.read_kitti_step_png(mine)):
      np.testing.assert_array_equal(a, b, err_msg=path)


def _bad_inputs(tmp_path):
  """(input, extra flags, expected message) per bad input."""
  (tmp_path / "empty").mkdir(exist_ok=True)
  (tmp_path / "garbage.mp4").write_bytes(b"not a video")
  (tmp_path / "zero_bytes.mp4").write_bytes(b"")
  _write_mp4(str(tmp_path / "ok.avi"), _frames()[:2])
  data = (tmp_path / "ok.avi").read_bytes()
  # An AVI whose codec tag no decoder knows.
  (tmp_path / "unknown_codec.avi").write_bytes(data.replace(b"H264", b"QQQQ"))
  return [
      ("missing.mp4", {}, "no such file"),
      ("empty", {}, "folder without images"),
      ("nothing_*.png", {}, "matches no images"),
      ("garbage.mp4", {}, "not a readable video"),
      ("zero_bytes.mp4", {}, "empty file"),
      ("unknown_codec.avi", {}, "unsupported codec"),
      ("ok.avi", {"start": 5}, "no frames to predict"),
  ]


def test_bad_inputs_fail_with_one_line_naming_the_path(tmp_path, capsys):
  for name, kwargs, message in _bad_inputs(tmp_path):
    path = str(tmp_path / name)
    with pytest.raises(video_io.InputError, match=message) as error:
      list(video_io.open_frames(path, **kwargs).frames())
    assert str(error.value).startswith(path) and "\n" not in str(error.value)
  # Through the command line: exit status 2, one line on stderr, no traceback.
  args = ["--config=configs/kitti_step.py:debug", "--checkpoint=random",
          f"--output={tmp_path / 'out'}"]
  for name, kwargs, message in _bad_inputs(tmp_path):
    flags = [f"--{k}={v}" for k, v in kwargs.items()]
    if "start" in kwargs:   # found only once frames are read, after compiling the model.
      continue
    assert predict.main(["predict", f"--input={tmp_path / name}"] + args + flags) == 2, name
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / name}:") and message in err, err
    assert err.count("\n") == 1


def test_checkpoint_not_fitting_the_config(tmp_path, capsys):
  from video_knet_jax import checkpointing  # pylint: disable=g-import-not-at-top
  variables = {"params": {"backbone": {"stem": np.zeros((3,), np.float32)}}}
  checkpointing.save_variables(str(tmp_path / "ckpt"), variables)
  frames = tmp_path / "frames"
  frames.mkdir()
  Image.fromarray(_frames()[0]).save(frames / "0.png")
  for checkpoint, message in ((tmp_path / "ckpt", "does not fit the config"),
                              (tmp_path / "frames", "not a readable checkpoint"),
                              (tmp_path / "nowhere", "no such checkpoint")):
    status = predict.main(["predict", "--config=configs/kitti_step.py:debug",
                           f"--checkpoint={checkpoint}", f"--input={frames}",
                           f"--output={tmp_path / 'out'}"])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith(f"error: {checkpoint}:") and message in err, err
    assert err.count("\n") == 1


def test_command_line_exits_2_without_traceback(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "video_knet_jax.predict", "--config=configs/kitti_step.py:debug",
       "--checkpoint=random", f"--input={tmp_path}", f"--output={tmp_path / 'out'}"],
      capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 2
  assert result.stderr.strip() == f"error: {tmp_path}: folder without images " \
      f"({', '.join(video_io.IMAGE_SUFFIXES)})."
  assert "Traceback" not in result.stderr + result.stdout
