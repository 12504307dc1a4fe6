"""Every entry point, every bad input: one line naming the file or field.

Each case runs what an entry point runs (in-process, cheap) and checks that
the error is a user error (exit status 2, no traceback, see
video_knet_jax/cli/entry_point.py), that its one line names the file or field and
what was expected, and that nothing partial is left and nothing earlier is
overwritten. A few cases run the real commands in child processes to show
the line and the missing traceback end to end.
"""
import errno
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.train_process import Child
from video_knet_jax import atomic_files
from video_knet_jax import checkpointing
from video_knet_jax.cli import entry_point

from video_knet_jax.configs import synthetic_step


def _line(error) -> str:
  assert entry_point.is_user_error(error), repr(error)
  line = entry_point.describe(error)
  assert "\n" not in line and "Traceback" not in line, line
  return line


def _expect(fn, *substrings):
  """Runs `fn`, which must fail with a user error naming `substrings`."""
  with pytest.raises(Exception) as info:  # pylint: disable=broad-except
    fn()
  line = _line(info.value)
  for text in substrings:
    assert text in line, (text, line)
  return line


def _tree(scale=1.0):
  return {"params": {"w": np.full((4, 3), scale, np.float32)},
          "batch_stats": {}, "opt_state": [np.zeros((4, 3), np.float32)],
          "step": np.int32(1)}


def _train_checkpoint(workdir, steps=(1,)):
  checkpointer = checkpointing.TrainCheckpointer(workdir, save_every_steps=1)
  for step in steps:
    checkpointer.save(step, _tree(step))
  checkpointer.close()
  return os.path.join(workdir, "checkpoints")


def _snapshot(root):
  """{relative path: bytes} of every file under `root`."""
  out = {}
  for folder, _, files in os.walk(root):
    for name in files:
      path = os.path.join(folder, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, root)] = f.read()
  return out


# --------------------------------------------------------------- train.py
def test_train_config_field_missing_from_the_config_file(tmp_path):
  from video_knet_jax.train import loop  # pylint: disable=g-import-not-at-top
  config = synthetic_step.get_config("debug")
  del config.train["eval_every_steps"]
  _expect(lambda: loop.train_and_evaluate(config, str(tmp_path / "w")),
          "config field", "eval_every_steps")


def test_train_resume_with_a_config_of_another_model(tmp_path):
  _train_checkpoint(str(tmp_path))
  other = _tree()
  other["params"]["w"] = np.zeros((5, 3), np.float32)
  checkpointer = checkpointing.TrainCheckpointer(str(tmp_path), save_every_steps=1)
  before = _snapshot(str(tmp_path))
  _expect(lambda: checkpointer.restore_latest_intact(other),
          os.path.join(str(tmp_path), "checkpoints", "1"), "params/w: (4, 3) in the "
          "checkpoint, (5, 3) in the model", "fresh --workdir")
  checkpointer.close()
  assert _snapshot(str(tmp_path)) == before   # nothing moved or rewritten.


def test_train_workdir_not_writable(tmp_path, monkeypatch):
  from video_knet_jax.train import loop  # pylint: disable=g-import-not-at-top
  config = synthetic_step.get_config("debug")
  blocked = str(tmp_path / "blocked" / "w")
  def refuse(path, *args, **kwargs):
    del args, kwargs
    raise PermissionError(errno.EACCES, "Permission denied", path)
  monkeypatch.setattr(os, "makedirs", refuse)
  _expect(lambda: loop.train_and_evaluate(config, blocked), blocked,
          "Permission denied")


# --------------------------------------------------- evaluate.py (model)
def test_evaluate_workdir_without_checkpoints(tmp_path):
  _expect(lambda: checkpointing.load_variables_or_workdir(str(tmp_path)),
          str(tmp_path), "empty directory; expected a training workdir")
  os.makedirs(tmp_path / "checkpoints")
  _expect(lambda: checkpointing.load_variables_or_workdir(str(tmp_path)),
          os.path.join(str(tmp_path), "checkpoints"), "No checkpoint")


def test_evaluate_truncated_checkpoint(tmp_path):
  _train_checkpoint(str(tmp_path))
  state_dir = os.path.join(str(tmp_path), "checkpoints", "1", "state")
  with open(os.path.join(state_dir, "manifest.ocdbt"), "r+b") as f:
    f.truncate(10)
  _expect(lambda: checkpointing.load_variables_or_workdir(str(tmp_path)),
          state_dir, "cannot be read back", "truncated")


def test_evaluate_checkpoint_of_another_model(tmp_path):
  from video_knet_jax.eval import driver  # pylint: disable=g-import-not-at-top
  config = synthetic_step.get_config("debug")
  _expect(lambda: driver.check_variables_fit(
      config, {"params": {"w": np.zeros(3)}, "batch_stats": {}}, "/some/ckpt"),
          "/some/ckpt", "does not fit the model of --config", "params/w")


# ------------------------------------------------- evaluate.py (folders)
def _kitti_tree(root, frames=2, size=(4, 6)):
  for k in range(frames):
    path = os.path.join(root, "0000", f"{k:06d}.png")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.zeros(size + (3,), np.uint8)).save(path)


def _score(gt, pred, output):
  from video_knet_jax.evaluation import score_folders  # pylint: disable=g-import-not-at-top
  rc = score_folders.main(["--dataset=kitti_step", f"--groundtruth={gt}",
                           f"--predictions={pred}", f"--output={output}"])
  return rc


@pytest.mark.parametrize("damage,named", [
    ("empty", "no KITTI-STEP PNGs found under"),
    ("missing", "not a directory"),
    ("corrupt", "cannot read PNG"),
    ("truncated", "cannot read PNG"),
    ("wrong_size", "size (2, 6) != ground truth"),
    ("wrong_mode", "expected an RGB PNG"),
])
def test_score_folders_bad_prediction_folder(tmp_path, capsys, damage, named):
  gt, pred = str(tmp_path / "gt"), str(tmp_path / "pred")
  output = str(tmp_path / "metrics.json")
  _kitti_tree(gt)
  _kitti_tree(pred)
  frame = os.path.join(pred, "0000", "000001.png")
  if damage == "empty":
    shutil.rmtree(pred)
    os.makedirs(pred)
  elif damage == "missing":
    shutil.rmtree(pred)
  elif damage == "corrupt":
    with open(frame, "wb") as f:
      f.write(b"not a png at all")
  elif damage == "truncated":
    data = open(frame, "rb").read()
    with open(frame, "wb") as f:
      f.write(data[:len(data) // 2])
  elif damage == "wrong_size":
    Image.fromarray(np.zeros((2, 6, 3), np.uint8)).save(frame)
  elif damage == "wrong_mode":
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(frame)
  with open(output, "w") as f:
    f.write("earlier results\n")
  assert _score(gt, pred, output) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("error: ") and named in err[0], err
  assert (pred in err[0]) or (frame in err[0]), err
  assert open(output).read() == "earlier results\n"   # not overwritten.


def test_score_folders_full_disk_keeps_the_earlier_results(tmp_path, monkeypatch):
  gt, pred = str(tmp_path / "gt"), str(tmp_path / "pred")
  output = str(tmp_path / "metrics.json")
  _kitti_tree(gt)
  _kitti_tree(pred)
  with open(output, "w") as f:
    f.write("earlier results\n")
  real_fsync = os.fsync
  def full(fd):
    del fd
    raise OSError(errno.ENOSPC, "No space left on device")
  monkeypatch.setattr(os, "fsync", full)
  _expect(lambda: _score(gt, pred, output), "No space left on device")
  monkeypatch.setattr(os, "fsync", real_fsync)
  assert open(output).read() == "earlier results\n"
  assert not [n for n in os.listdir(tmp_path) if atomic_files.PARTIAL in n]


def test_output_folder_swapped_in_whole_or_not_at_all(tmp_path):
  target = str(tmp_path / "predictions")
  os.makedirs(target)
  with open(os.path.join(target, "old.png"), "w") as f:
    f.write("old")
  with pytest.raises(OSError):
    with atomic_files.directory(target) as partial:
      with open(os.path.join(partial, "new.png"), "w") as f:
        f.write("new")
      raise OSError(errno.ENOSPC, "No space left on device")
  assert os.listdir(target) == ["old.png"]
  assert sorted(os.listdir(tmp_path)) == ["predictions"]   # no partial left.
  with atomic_files.directory(target) as partial:
    with open(os.path.join(partial, "new.png"), "w") as f:
      f.write("new")
  assert os.listdir(target) == ["new.png"]
  assert sorted(os.listdir(tmp_path)) == ["predictions"]


# ------------------------------------------------- convert import/export
def _torch_file(tmp_path, kind):
  torch = pytest.importorskip("torch")
  path = str(tmp_path / "model.pth")
  if kind == "text":
    with open(path, "w") as f:
      f.write("this is a README, not weights\n")
  elif kind == "empty":
    open(path, "wb").close()
  elif kind in ("truncated", "truncated_legacy"):
    torch.save({"a": torch.ones(2000)}, path,
               _use_new_zipfile_serialization=kind == "truncated")
    data = open(path, "rb").read()
    with open(path, "wb") as f:
      f.write(data[:len(data) // 2])
  elif kind == "pickled_object":
    torch.save({"a": torch.ones(2), "when": np.datetime64("2020-01-01")}, path)
  elif kind == "truncated_safetensors":
    from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
    path = str(tmp_path / "model.safetensors")
    save_file({"a": np.ones(2000, np.float32)}, path)
    data = open(path, "rb").read()
    with open(path, "wb") as f:
      f.write(data[:len(data) // 2])
  return path


@pytest.mark.parametrize("kind,named", [
    ("text", "not a PyTorch checkpoint"),
    ("empty", "is empty, not a PyTorch checkpoint"),
    ("truncated", "truncated PyTorch checkpoint"),
    ("truncated_legacy", "truncated or corrupt"),
    ("pickled_object", "needs arbitrary Python objects to be unpickled"),
    ("truncated_safetensors", "truncated or corrupt"),
])
def test_convert_import_bad_file(tmp_path, kind, named):
  from video_knet_jax.convert import torch_files  # pylint: disable=g-import-not-at-top
  path = _torch_file(tmp_path, kind)
  _expect(lambda: torch_files.load_state_dict(path), path, named)


def test_convert_import_wrong_keys_keeps_an_earlier_output(tmp_path):
  pytest.importorskip("torch")
  from tests.convert import model_fixtures  # pylint: disable=g-import-not-at-top
  from video_knet_jax.convert import conversion  # pylint: disable=g-import-not-at-top
  from video_knet_jax.convert import flax_to_torch  # pylint: disable=g-import-not-at-top
  from video_knet_jax.convert import torch_files  # pylint: disable=g-import-not-at-top
  cfg = model_fixtures.config("debug")
  state = flax_to_torch.flax_to_torch(
      model_fixtures.random_variables(model_fixtures.abstract(cfg)))
  state["neck.not_a_layer.weight"] = state.pop("neck.fpn_convs.0.conv.weight")
  src = str(tmp_path / "in.pth")
  torch_files.save_state_dict(src, state)
  output = tmp_path / "vars"
  output.mkdir()
  (output / "earlier").write_text("kept")
  _expect(lambda: conversion.import_torch(cfg, src, str(output)), src,
          "neck.fpn_convs.0.conv.weight")
  assert sorted(os.listdir(output)) == ["earlier"]
  assert sorted(os.listdir(tmp_path)) == ["in.pth", "vars"]


def test_convert_export_empty_or_foreign_checkpoint(tmp_path):
  from tests.convert import model_fixtures  # pylint: disable=g-import-not-at-top
  from video_knet_jax.convert import conversion  # pylint: disable=g-import-not-at-top
  cfg = model_fixtures.config("debug")
  (tmp_path / "empty").mkdir()
  out = str(tmp_path / "x.safetensors")
  _expect(lambda: conversion.export(cfg, str(tmp_path / "empty"), out),
          str(tmp_path / "empty"))
  checkpointing.save_variables(str(tmp_path / "other"),
                               {"params": {"w": np.zeros(3, np.float32)}})
  _expect(lambda: conversion.export(cfg, str(tmp_path / "other"), out),
          str(tmp_path / "other"), "does not match the model of --config")
  assert not os.path.exists(out)


# ------------------------------------------------------- dataset builders
@pytest.mark.parametrize("damage,named", [
    ("truncated_png", "images/train/0000/000001.png"),
    ("label_wrong_size", "panoptic_maps/train/0000/000001.png"),
    ("label_wrong_mode", "panoptic_maps/train/0000/000001.png"),
    ("missing_split", "images/val"),
])
def test_dataset_builder_bad_tree(tmp_path, damage, named):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from video_knet_jax.datasets.kitti_step import kitti_step_dataset_builder as kb  # pylint: disable=g-import-not-at-top
  from video_knet_jax.datasets.synthetic_step import generate  # pylint: disable=g-import-not-at-top
  from video_knet_jax.datasets.synthetic_step import spec as spec_lib  # pylint: disable=g-import-not-at-top
  spec = spec_lib.SyntheticSpec(seed=3, num_train_sequences=1, num_val_sequences=1,
                                frames_per_sequence=3, height=32, width=64)
  root = generate.write_tree(tmp_path / "raw", spec)
  if damage == "truncated_png":
    path = root / "images/train/0000/000001.png"
    path.write_bytes(path.read_bytes()[:100])
  elif damage == "label_wrong_size":
    path = root / "panoptic_maps/train/0000/000001.png"
    Image.open(path).crop((0, 0, 20, 10)).save(path)
  elif damage == "label_wrong_mode":
    path = root / "panoptic_maps/train/0000/000001.png"
    Image.open(path).convert("L").save(path)
  elif damage == "missing_split":
    shutil.rmtree(root / "images" / "val")
  builder = kb.Builder(config=kb.StepConfig(name="tiny", facts=spec.facts()),
                       data_dir=str(tmp_path / "tfds"))
  _expect(lambda: builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(root))), named)
  assert not builder.is_prepared()


# ----------------------------------------- the real commands, end to end
@pytest.mark.parametrize("args,named", [
    (["train.py", "--config=configs/synthetic_step.py:debug", "--workdir=W",
      "--config.train.bach_size=3"],
     '--config.train.bach_size: no such config field (did you mean "batch_size"'),
    (["train.py", "--config=configs/synthetic_step.py:debug"],
     "--workdir must have a value"),
    (["evaluate.py", "--config=configs/no_such_config.py", "--workdir=W"],
     "No such file or directory: 'configs/no_such_config.py'"),
    (["evaluate.py", "--config=configs/vspw.py:debug", "--workdir=W",
      "--association=mask_iou"],
     "--association=mask_iou: not supported by the semantic task"),
    (["-m", "video_knet_jax.convert", "import", "--config=configs/kitti_step.py:debug",
      "--torch=W/notes.pth", "--output=W/out"],
     "notes.pth: not a PyTorch checkpoint"),
])
def test_commands_print_one_line_without_traceback(tmp_path, args, named):
  (tmp_path / "notes.pth").write_text("not weights\n")
  args = [a.replace("=W", f"={tmp_path}") for a in args]
  child = Child(args)
  assert child.wait(300) == 2, child.log()
  lines = [line for _, line in child.lines if line.startswith("error: ")]
  assert len(lines) == 1 and named in lines[0], child.log()
  assert "Traceback" not in child.log(10**6)
  verbose = Child(args + ["--verbose"])
  assert verbose.wait(300) == 2
  assert "Traceback" in verbose.log(10**6)
  assert sorted(os.listdir(tmp_path)) == ["notes.pth"]   # nothing written.
