"""train + evaluate on the generated Cityscapes-VPS (Swin-B) and VIPSeg sets,
and the image K-Net pretraining -> Video K-Net finetuning through init_from
(tiny)."""
import json
import os

import jax
import numpy as np
import pytest

from video_knet_jax.configs import cityscapes_step
from video_knet_jax.configs import cityscapes_vps
from video_knet_jax.configs import kitti_step
from video_knet_jax.configs import synthetic_step
from video_knet_jax.configs import vipseg

from video_knet_jax import checkpointing  # pylint: disable=wrong-import-position
from video_knet_jax.tasks import panoptic_eval  # pylint: disable=wrong-import-position
from video_knet_jax import sharding  # pylint: disable=wrong-import-position
from video_knet_jax import train  # pylint: disable=wrong-import-position
from video_knet_jax.models import video_knet  # pylint: disable=wrong-import-position


def _tiny(module, tmp_path, steps=2, arg="debug"):
  config = module.get_config(arg)
  config.data.data_dir = str(tmp_path / "tfds")
  config.train.num_steps = steps
  config.train.checkpoint_every_steps = steps
  config.train.log_every_steps = 1
  config.train.batch_size = 8   # one clip per emulated device.
  return config


def _train_and_evaluate(config, workdir):
  train.train_and_evaluate(config, workdir)
  variables = checkpointing.load_train_variables(workdir)
  out = os.path.join(workdir, "eval")
  metrics = panoptic_eval.evaluate_variables(config, variables, out,
                                            num_pictures=1)
  return metrics, out


pytestmark = pytest.mark.slow


def test_cityscapes_vps_swin_b_train_and_evaluate(tmp_path):
  # The paper's Swin-B row (the KITTI-STEP Swin-B model: fusion + "update"
  # link); the R50 model trains in the other tests of this file.
  config = _tiny(cityscapes_vps, tmp_path, arg="swin_b,debug")
  t = config.model.temporal
  assert (config.model.backbone.name, t.fusion, t.link_type) == ("swin", True, "update")
  metrics, out = _train_and_evaluate(config, str(tmp_path / "work"))
  stage = checkpointing.load_train_variables(str(tmp_path / "work"))["params"]["roi_head"][
      "mask_head"]["1"]
  assert "attention_previous_update_link" in stage and "link_ffn_track" in stage
  # One val video of 30 frames, run online, scored on its 6 labelled frames.
  assert metrics["num_frames"] == 6
  for key in ("VPQ_span0", "VPQ_span5", "VPQ_span10", "VPQ_span15", "STQ"):
    assert 0.0 <= metrics[key] <= 1.0, key
  assert metrics["VPQ_span15"] == metrics["VPQ_k4"]
  with open(os.path.join(out, "predictions", "pred.json")) as f:
    annotations = json.load(f)["annotations"]
  assert [a["image_id"].split("_")[0] for a in annotations] == ["0003"] * 6
  for a in annotations:
    assert os.path.exists(os.path.join(out, "predictions", "pan_pred",
                                       a["file_name"]))


def test_vipseg_train_and_evaluate(tmp_path):
  config = _tiny(vipseg, tmp_path)
  metrics, out = _train_and_evaluate(config, str(tmp_path / "work"))
  assert metrics["num_frames"] == 8   # one val video of 8 frames.
  for key in ("VPQ", "STQ", "AQ", "VPQ_k8"):
    assert 0.0 <= metrics[key] <= 1.0, key
  with open(os.path.join(out, "predictions", "pred.json")) as f:
    (video,) = json.load(f)["annotations"]
  assert video["video_id"] == "2_synthetic0" and len(video["annotations"]) == 8


def test_image_pretraining_then_video_finetuning(tmp_path):
  pre = _tiny(cityscapes_step, tmp_path, steps=2)
  pre_dir = str(tmp_path / "pre")
  metrics, _ = _train_and_evaluate(pre, pre_dir)
  assert metrics["num_frames"] == 2 and 0.0 <= metrics["PQ"] <= 1.0  # image PQ.
  image_vars = checkpointing.load_train_variables(pre_dir)

  video = synthetic_step.get_config("debug")
  video.model = kitti_step.get_config("debug").model   # the KITTI-STEP model.
  video.data.data_dir = str(tmp_path / "tfds")
  video.init_from.checkpoint = pre_dir
  model = video_knet.build_model(video)
  mesh = sharding.make_mesh(video.mesh)
  state, _, _ = train.create_train_state(video, model, mesh,
                                             jax.random.key(0))
  state, report = train.merge_init_from(
      state, checkpointing.load_variables_or_workdir(pre_dir), strict=False)
  assert not report["unexpected"] and not report["mismatched"]
  # Only the video-only layers (linking, embedding/track head) stay at init.
  temporal = ("previous", "link", "embed", "track")
  assert report["missing"] and all(
      any(t in path for t in temporal) for path in report["missing"])
  assert len(report["loaded"]) == len(jax.tree.leaves(image_vars))
  np.testing.assert_array_equal(
      state.params["rpn_head"]["conv_seg"]["kernel"],
      image_vars["params"]["rpn_head"]["conv_seg"]["kernel"])
  # And the finetuning run starts from it.
  video.train.num_steps = 1
  video.train.checkpoint_every_steps = 1
  video.train.batch_size = 8
  train.train_and_evaluate(video, str(tmp_path / "video"))
  assert checkpointing.TrainCheckpointer(
      str(tmp_path / "video"), save_every_steps=1).latest_step() == 1
