"""The COCO stages through what train.py and evaluate.py run (the one loop and
the driver's evaluate_checkpoint), on generated COCO 2017 sets, and the chain
they start: COCO instance K-Net -> init_from -> YouTube-VIS KNetTrack, COCO
panoptic K-Net -> init_from -> VIPSeg Video K-Net, with the loop's report of
loaded, new and mismatched leaves.

Tiny: configs/coco.py:debug and :panoptic,debug with one update stage, two
steps of two images on two devices; each COCO run is trained once (module
fixtures) and serves its evaluation test and its chain test.
"""
import json
import logging
import os
import re

import jax
import numpy as np
import pytest
from flax import traverse_util

from tests import task_configs
from video_knet_jax import checkpointing
from video_knet_jax import tasks
from video_knet_jax.configs import coco
from video_knet_jax.configs import vipseg
from video_knet_jax.datasets.coco import facts as coco_facts
from video_knet_jax.eval import driver
from video_knet_jax.tasks import image_instance_eval
from video_knet_jax.train import loop

pytestmark = pytest.mark.slow


def _tiny(config, data_dir, steps=2):
  config.data.data_dir = data_dir
  config.model.num_stages = 1
  config.loss.stage_weights = (1.0,)
  config.mesh = (("data", task_configs.NUM_DEVICES),)
  config.train.batch_size = task_configs.NUM_DEVICES
  config.train.num_steps = steps
  config.train.checkpoint_every_steps = steps
  config.train.log_every_steps = 1
  config.optim.warmup_steps = 0
  return config


def _train(config, workdir):
  return loop.train_and_evaluate(config, workdir,
                                 evaluate_fn=driver.evaluate_in_training)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("coco_tfds"))


def _coco_run(arg, task, data_dir, tmp_path_factory):
  config = _tiny(coco.get_config(arg), data_dir)
  assert tasks.name_of(config) == task
  workdir = str(tmp_path_factory.mktemp(task))
  return config, workdir, _train(config, workdir)


@pytest.fixture(scope="module")
def instance_run(data_dir, tmp_path_factory):
  return _coco_run("debug", "image_instance", data_dir, tmp_path_factory)


@pytest.fixture(scope="module")
def panoptic_run(data_dir, tmp_path_factory):
  return _coco_run("panoptic,debug", "panoptic", data_dir, tmp_path_factory)


def test_mask_ap_of_the_groundtruth_itself_is_one():
  """The pycocotools wiring on a hand-made case: two images, three objects
  (one crowd); the ground truth as results scores AP 1, a wrong class 0."""
  masks = np.zeros((3, 20, 30), np.uint8)
  masks[0, 2:12, 3:15] = 1
  masks[1, 10:18, 16:28] = 1
  masks[2, 0:5, 0:5] = 1
  from pycocotools import mask as mask_utils  # pylint: disable=g-import-not-at-top
  rles = [mask_utils.encode(np.asfortranarray(m))["counts"] for m in masks]
  examples = [
      {"image_id": 7, "file_name": b"a.jpg", "annotation_ids": [1, 2],
       "labels": [0, 2], "masks_rle": rles[:2], "areas": [120.0, 96.0],
       "boxes": [[3, 2, 12, 10], [16, 10, 12, 8]], "is_crowd": [False, False]},
      {"image_id": 9, "file_name": b"b.jpg", "annotation_ids": [3],
       "labels": [0], "masks_rle": rles[2:], "areas": [25.0],
       "boxes": [[0, 0, 5, 5]], "is_crowd": [True]}]
  images, anns = zip(*[image_instance_eval.groundtruth_of_image(ex, 20, 30)
                       for ex in examples])
  gt = {"images": list(images), "annotations": anns[0] + anns[1],
        "categories": [{"id": c[0], "name": c[1]}
                       for c in coco_facts.THING_CATEGORIES]}
  assert [a["category_id"] for a in gt["annotations"]] == [1, 3, 1]
  perfect = image_instance_eval.results_of_image(
      7, np.array([0.9, 0.8]), np.array([0, 2]), masks[:2].astype(bool))
  metrics = image_instance_eval.coco_mask_ap(gt, perfect)
  assert metrics["AP"] == pytest.approx(1.0) and metrics["AP50"] == pytest.approx(1.0)
  wrong = image_instance_eval.results_of_image(
      7, np.array([0.9, 0.8]), np.array([1, 3]), masks[:2].astype(bool))
  assert image_instance_eval.coco_mask_ap(gt, wrong)["AP"] == 0.0


def test_coco_instance_trains_and_evaluate_reports_mask_ap(instance_run):
  config, workdir, last = instance_run
  assert np.isfinite(last["loss"])
  metrics, output_dir = driver.evaluate_checkpoint(config, workdir,
                                                   workdir=workdir)
  assert output_dir == os.path.join(workdir, "eval_coco_instances")
  assert set(image_instance_eval.STAT_NAMES) <= set(metrics)
  assert metrics["num_images"] == 2 and 0.0 <= metrics["AP"] <= 1.0
  with open(os.path.join(output_dir, "results.json")) as f:
    results = json.load(f)
  with open(os.path.join(output_dir, "groundtruth.json")) as f:
    image_ids = {im["id"] for im in json.load(f)["images"]}
  # max_per_img results per image (8 proposals x 80 classes > 100).
  assert len(results) == 2 * config.inference.max_per_img
  assert {r["image_id"] for r in results} == image_ids
  assert {r["category_id"] for r in results} <= set(coco_facts.THING_CATEGORY_IDS)
  with open(os.path.join(output_dir, driver.METRICS_FILE)) as f:
    assert json.load(f)["AP"] == metrics["AP"]
  print(driver.describe(config, metrics, workdir, output_dir))


def test_coco_panoptic_trains_and_evaluate_reports_pq(panoptic_run):
  config, workdir, last = panoptic_run
  assert np.isfinite(last["loss"])
  metrics, output_dir = driver.evaluate_checkpoint(config, workdir,
                                                   workdir=workdir)
  assert metrics["num_frames"] == 2   # two one-image sequences.
  assert 0.0 <= metrics["PQ"] <= 1.0 and metrics["PQ"] == metrics["VPQ_k1"]
  assert os.path.isfile(os.path.join(output_dir, driver.METRICS_FILE))


def _init_from_report(caplog, source):
  """The loop's init_from counts: {'loaded': n, 'left at init': n, ...}."""
  lines = [r.getMessage() for r in caplog.records
           if r.getMessage().startswith(f"init_from {source}:")]
  assert len(lines) == 1, lines
  return {name: int(n) for n, name in re.findall(
      r"(\d+) (loaded|left at init|unexpected|mismatched)", lines[0])}


def _leaves(tree):
  return traverse_util.flatten_dict(jax.device_get(tree), sep="/")


def _expected_report(config, source_variables):
  """The counts merge_init_from must give, from the two trees' paths/shapes."""
  task = tasks.get(config)
  model = task.build_model(config)
  target = jax.eval_shape(lambda r: task.init_variables(model, config, r),
                          jax.random.key(0))
  target, source = _leaves(target), _leaves(source_variables)
  same = [k for k in target if k in source and source[k].shape == target[k].shape]
  return {"loaded": len(same), "left at init": len(set(target) - set(source)),
          "unexpected": len(set(source) - set(target)),
          "mismatched": len(set(target) & set(source)) - len(same)}, target, source


def _check_chain(config, source, caplog, workdir, *, new, class_layers):
  source_variables = checkpointing.load_train_variables(source)
  expected, target, source_leaves = _expected_report(config, source_variables)
  with caplog.at_level(logging.INFO):
    _train(config, workdir)
  report = _init_from_report(caplog, source)
  assert report == expected, (report, expected)
  # Every leaf the image K-Net has is loaded except the class layers (other
  # label spaces), and the new ones are the video model's own.
  assert expected["unexpected"] == 0 and expected["loaded"] > 0
  mismatched = sorted(k for k in target if k in source_leaves
                      and source_leaves[k].shape != target[k].shape)
  assert mismatched and all(re.search(class_layers, k) for k in mismatched), mismatched
  assert all(re.search(new, k) for k in set(target) - set(source_leaves))
  # Frozen BatchNorm statistics (norm_eval) keep the loaded values.
  trained = _leaves(checkpointing.load_train_variables(workdir)["batch_stats"])
  key = sorted(trained)[0]
  np.testing.assert_array_equal(trained[key],
                                source_leaves[f"batch_stats/{key}"])
  return report


def test_coco_instance_initialises_youtube_vis(instance_run, task_data_dir,
                                               tmp_path, caplog):
  _, source, _ = instance_run
  config = task_configs.tiny_config("instance", task_data_dir, num_steps=1)
  config.init_from.checkpoint = source
  report = _check_chain(config, source, caplog, str(tmp_path / "vis"),
                        new=r"^params/tracker/",
                        class_layers=r"(conv_seg|fc_cls)/")
  assert report["left at init"] > 0


def test_coco_panoptic_initialises_vipseg(panoptic_run, data_dir, tmp_path,
                                          caplog):
  _, source, _ = panoptic_run
  config = _tiny(vipseg.get_config("debug"), data_dir, steps=1)
  config.init_from.checkpoint = source
  report = _check_chain(config, source, caplog, str(tmp_path / "vipseg"),
                        new=r"(link|embed|track|previous)",
                        class_layers=r"(conv_seg|fc_cls|init_kernels)/")
  assert report["left at init"] > 0
