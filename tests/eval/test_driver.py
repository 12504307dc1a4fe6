"""The one evaluation driver, for every task: each evaluate.py option is
honoured or refused, the checkpoint is checked before any data set work, the
files are swapped in whole, and each task's evaluation streams its videos."""
import json
import os

import jax
import numpy as np
import pytest

from tests import task_configs
from video_knet_jax import checkpointing
from video_knet_jax.cli import entry_point
from video_knet_jax import tasks
from video_knet_jax.eval import driver

TASKS = task_configs.TASKS
DEFAULT_OUTPUT = {"panoptic": "eval_embedding", "semantic": "eval_semantic",
                  "instance": "eval_youtube_vis"}


def _abstract_variables(config):
  task = tasks.get(config)
  model = task.build_model(config)
  return jax.eval_shape(lambda r: task.init_variables(model, config, r),
                        jax.random.key(0))


def _filled(config, value):
  return jax.tree.map(lambda s: np.full(s.shape, value, s.dtype),
                      _abstract_variables(config))


def _workdir_with_two_checkpoints(config, workdir):
  """A training workdir whose step-1 variables are 1s and step-2 ones 2s."""
  checkpointer = checkpointing.TrainCheckpointer(workdir, save_every_steps=1)
  for step in (1, 2):
    variables = _filled(config, step)
    checkpointer.save(step, {"step": np.int32(step), "opt_state": {},
                             "params": variables["params"],
                             "batch_stats": variables["batch_stats"]})
  checkpointer.close()


class _RecordingEvaluation:
  """Stands in for a task's evaluation: records what the driver passed and
  writes one submission file and a folder."""

  def __init__(self, fail=False):
    self.calls, self.fail = [], fail

  def __call__(self, config, variables, output_dir, options):
    self.calls.append((variables, output_dir, options))
    if output_dir is not None:
      os.makedirs(os.path.join(output_dir, "predictions"))
      with open(os.path.join(output_dir, "predictions", "a.png"), "w") as f:
        f.write("new")
      with open(os.path.join(output_dir, "results.json"), "w") as f:
        f.write("[]")
    if self.fail:
      raise OSError("disk full")
    return {"score": 0.5, "num_frames": 3}


@pytest.mark.parametrize("task", TASKS)
def test_options_reach_the_task_and_files_are_swapped_in_whole(
    task, tmp_path, monkeypatch):
  config = task_configs.tiny_config(task, str(tmp_path / "tfds"))
  module = tasks.get(config)
  evaluation = _RecordingEvaluation()
  monkeypatch.setattr(module, "evaluate", evaluation)
  workdir = str(tmp_path / "work")
  _workdir_with_two_checkpoints(config, workdir)
  association = "mask_iou" if task == "panoptic" else None
  options = driver.EvalOptions(split="train", max_sequences=1,
                               association=association)
  out = str(tmp_path / "chosen")
  os.makedirs(out + ".partial-12345")      # left by a killed evaluation.
  metrics, output_dir = driver.evaluate_checkpoint(
      config, workdir, step=1, output_dir=out, options=options)
  assert output_dir == out and metrics == {"score": 0.5, "num_frames": 3}
  variables, staging, passed = evaluation.calls[-1]
  assert passed == options
  assert all(float(np.asarray(x).ravel()[0]) == 1.0
             for x in jax.tree.leaves(variables))                   # --step=1.
  assert staging != out and not os.path.exists(staging)   # filled, then swapped.
  assert sorted(os.listdir(out)) == ["metrics.json", "predictions", "results.json"]
  with open(os.path.join(out, "metrics.json")) as f:
    assert json.load(f) == metrics
  # Defaults: the latest checkpoint, WORKDIR/<the task's folder>.
  metrics, output_dir = driver.evaluate_checkpoint(config, workdir)
  assert output_dir == os.path.join(workdir, DEFAULT_OUTPUT[task])
  assert all(float(np.asarray(x).ravel()[0]) == 2.0
             for x in jax.tree.leaves(evaluation.calls[-1][0]))
  assert evaluation.calls[-1][2] == driver.EvalOptions()
  # --checkpoint: a converted-variables directory.
  converted = str(tmp_path / "converted")
  checkpointing.save_variables(converted, _filled(config, 3))
  driver.evaluate_checkpoint(config, converted, output_dir=out)
  assert all(float(np.asarray(x).ravel()[0]) == 3.0
             for x in jax.tree.leaves(evaluation.calls[-1][0]))
  with pytest.raises(entry_point.UserError, match="--step=1: .* variables directory"):
    driver.evaluate_checkpoint(config, converted, step=1)
  # A failed evaluation leaves the earlier results and no partial folder.
  monkeypatch.setattr(module, "evaluate", _RecordingEvaluation(fail=True))
  with pytest.raises(OSError, match="disk full"):
    driver.evaluate_checkpoint(config, workdir, output_dir=out)
  assert sorted(os.listdir(out)) == ["metrics.json", "predictions", "results.json"]
  assert sorted(os.listdir(tmp_path)) == ["chosen", "converted", "work"]


@pytest.mark.parametrize("task,option,named", [
    ("semantic", dict(association="embedding"), "--association=embedding: not supported by the semantic task"),
    ("instance", dict(association="mask_iou"), "--association=mask_iou: not supported by the instance task"),
    ("panoptic", dict(max_sequences=0), "--max_sequences=0 must be >= 1"),
])
def test_unsupported_options_are_refused_before_any_work(
    task, option, named, tmp_path):
  config = task_configs.tiny_config(task, str(tmp_path / "tfds"))
  with pytest.raises(entry_point.UserError, match=named):
    driver.evaluate_checkpoint(config, str(tmp_path / "no_such_dir"),
                               options=driver.EvalOptions(**option))
  assert not os.path.exists(tmp_path / "tfds")


def test_the_image_knet_offers_both_associations(tmp_path):
  # Its raw kernels go to the learned tracker (the paper's "toy" row).
  from video_knet_jax.configs import cityscapes_step  # pylint: disable=g-import-not-at-top
  config = cityscapes_step.get_config("debug")
  with pytest.raises(entry_point.UserError,
                     match=r"offers \['embedding', 'mask_iou'\]"):
    driver.evaluate_checkpoint(config, str(tmp_path),
                               options=driver.EvalOptions(association="bogus"))


@pytest.mark.parametrize("task", ["semantic", "instance"])
def test_raw_output_dumps_are_refused_where_the_task_has_none(task, tmp_path):
  config = task_configs.tiny_config(task, str(tmp_path / "tfds"))
  with pytest.raises(entry_point.UserError,
                     match=f"--dump_frames: not supported by the {task} task"):
    driver.dump_raw_outputs(config, str(tmp_path), "out.npz", frames="0:0")


@pytest.mark.parametrize("task", TASKS)
def test_a_checkpoint_is_checked_before_the_data_set_is_touched(task, tmp_path):
  config = task_configs.tiny_config(task, str(tmp_path / "tfds"))
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(FileNotFoundError, match="empty directory"):
    driver.evaluate_checkpoint(config, str(empty))
  other = str(tmp_path / "other")
  checkpointing.save_variables(other, {"params": {"w": np.zeros(3, np.float32)},
                                       "batch_stats": {}})
  with pytest.raises(checkpointing.CheckpointMismatchError,
                     match="does not fit the model of --config"):
    driver.evaluate_checkpoint(config, other)
  assert not os.path.exists(tmp_path / "tfds")   # nothing generated or built.


def test_old_task_switches_still_select_their_task_with_a_warning():
  from video_knet_jax.configs import vspw  # pylint: disable=g-import-not-at-top
  from video_knet_jax.configs import youtube_vis  # pylint: disable=g-import-not-at-top
  for module, switch, value, name in ((vspw, "task", "semantic", "semantic"),
                                      (youtube_vis, "family", "knet_track",
                                       "instance")):
    config = module.get_config("debug")
    del config["task"]
    config.model[switch] = value
    with pytest.warns(DeprecationWarning, match=f"config.task={name!r}"):
      tasks._warned.clear()  # pylint: disable=protected-access
      assert tasks.get(config).NAME == name
    config.task = "panoptic"
    with pytest.raises(ValueError, match="contradicts the old switch"):
      tasks.get(config)
  with pytest.raises(ValueError, match=r"config.task='coco'; expected one of "
                     r"\['image_instance', 'instance', 'panoptic', 'semantic'\]"):
    tasks.get("coco")


@pytest.fixture(scope="module")
def data_dir(task_data_dir):
  return task_data_dir


def _real_config(task, data_dir):
  config = task_configs.tiny_config(task, data_dir)
  if task == "semantic":
    config.data.generated.videos = (("train", 2), ("val", 1))
  return config


FRAMES_PER_VIDEO = {"panoptic": 6, "semantic": 6, "instance": 4}


@pytest.mark.parametrize("task", TASKS)
def test_each_task_evaluates_a_converted_directory_on_the_split_asked(
    task, data_dir, tmp_path):
  """--checkpoint=converted --split=train --max_sequences=1, really run."""
  config = _real_config(task, data_dir)
  module = tasks.get(config)
  model = module.build_model(config)
  converted = str(tmp_path / "converted")
  checkpointing.save_variables(converted, jax.device_get(jax.jit(
      lambda r: module.init_variables(model, config, r))(jax.random.key(0))))
  out = str(tmp_path / "out")
  options = driver.EvalOptions(split="train", max_sequences=1)
  metrics, _ = driver.evaluate_checkpoint(config, converted, output_dir=out,
                                          options=options)
  written = sorted(os.listdir(out))
  assert "metrics.json" in written and not [
      n for n in os.listdir(tmp_path) if ".partial" in n]
  if task == "panoptic":
    assert metrics["num_frames"] == FRAMES_PER_VIDEO[task]
    assert {"predictions", "pictures", "sequence.gif"} <= set(written)
    assert "STQ" in module.format_table(metrics)
  elif task == "semantic":
    assert metrics["num_frames"] == FRAMES_PER_VIDEO[task]
    assert {"predictions", "overlays"} <= set(written)
    assert "mIoU" in module.format_table(metrics)
  else:
    with open(os.path.join(out, "results.json")) as f:
      results = json.load(f)
    assert len({r["video_id"] for r in results}) == 1
    assert {"groundtruth.json", "pictures"} <= set(written)
    assert "AP" in module.format_table(metrics)
  # Processes other than 0 score and write nothing.
  again = driver.evaluate(config, jax.device_get(checkpointing.load_variables(
      converted)), None, options)
  np.testing.assert_equal(again, metrics)


def test_panoptic_evaluation_holds_at_most_two_frames():
  from video_knet_jax.tasks import panoptic_eval  # pylint: disable=g-import-not-at-top
  held = []

  def frames():
    for i in range(6):
      yield {"index": i}

  read = []

  def predict(stream):   # like the predictor: one frame ahead of its results.
    previous = None
    for frame in stream:
      read.append(frame["index"])
      if previous is not None:
        yield previous["index"]
      previous = frame
    yield previous["index"]

  for frame, result in panoptic_eval._with_frames(predict, frames()):  # pylint: disable=protected-access
    assert frame["index"] == result
    held.append(len(read) - result)
  assert max(held) <= 2 and len(held) == 6


def test_semantic_eval_videos_decode_one_frame_at_a_time():
  from video_knet_jax.data import semantic_clips  # pylint: disable=g-import-not-at-top
  import io  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top

  def png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()

  class Source(list):
    reads = 0

    def __getitem__(self, index):
      self.reads += 1
      return super().__getitem__(index)

  source = Source({"image": png(np.full((4, 6, 3), t, np.uint8)),
                   "mask": png(np.full((4, 6), t, np.uint8)),
                   "has_label": True,
                   "file_name": f"v/{t:08d}.jpg"} for t in range(5))
  video = semantic_clips.EvalVideo(name="v", rows=np.arange(5), source=source)
  frames = video.frames()
  name, image, mask = next(frames)
  assert source.reads == 1 and name == "00000000"
  assert image.shape == (4, 6, 3) and mask.shape == (4, 6)
  assert [int(m[0, 0]) for _, _, m in frames] == [1, 2, 3, 4]
  assert source.reads == 5


@pytest.mark.parametrize("task", ["semantic", "instance"])
def test_predict_and_export_are_refused_where_the_task_has_neither(task, tmp_path):
  from video_knet_jax import api  # pylint: disable=g-import-not-at-top
  from video_knet_jax import export  # pylint: disable=g-import-not-at-top
  config = task_configs.tiny_config(task, str(tmp_path / "tfds"))
  with pytest.raises(entry_point.UserError,
                     match=f"predicting a video: not supported by the {task} task"):
    api.load_model(config, "random")
  with pytest.raises(entry_point.UserError,
                     match=f"export: not supported by the {task} task"):
    export.run(config, "random", "stablehlo", str(tmp_path / "out"))


def test_panoptic_raw_output_dumps_get_the_frames_split_and_step(tmp_path, monkeypatch):
  from video_knet_jax.convert import dump_outputs  # pylint: disable=g-import-not-at-top
  calls = []
  monkeypatch.setattr(dump_outputs, "run", lambda *a, **k: calls.append((a, k)))
  config = task_configs.tiny_config("panoptic", str(tmp_path / "tfds"))
  driver.dump_raw_outputs(config, "W", "out.npz", frames="1000:0", split="val",
                          step=3)
  assert calls == [((config, "W", "out.npz"),
                    dict(frames="1000:0", split="val", step=3))]
