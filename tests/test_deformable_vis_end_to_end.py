"""configs/youtube_vis.py:deformable,debug (the deformable pixel decoder neck) trains
and evaluates through what train.py and evaluate.py run: the one loop
(train/loop.py, with the driver's in-training evaluation) and the driver's
evaluate_checkpoint (eval/driver.py).

The heads are cut to one per-frame and two tracker stages to keep the compile
cheap (the neck is what is new here; the instance task's full heads run in the
task tests). The tiny-Swin variant is checked by a forward pass in
tests/test_deformable_configs.py.
"""
import os

import numpy as np
import pytest

from video_knet_jax.configs import youtube_vis
from video_knet_jax.eval import driver
from video_knet_jax.evaluation import ytvis_ap
from video_knet_jax.train import loop


@pytest.mark.slow
def test_deformable_debug_trains_and_evaluates(tmp_path):
  config = youtube_vis.get_config("deformable,debug")
  assert config.model.neck.name == "msdeformattn_pixel_decoder"
  config.data.data_dir = str(tmp_path / "tfds")
  # The smallest set the recipe runs on: 2 train videos, 1 local val video.
  config.data.synthetic.num_videos = 3
  config.data.synthetic.frames_per_video = 4
  config.model.num_stages = 1
  config.loss.stage_weights = (1.0,)
  config.model.tracker.num_stages = 2     # one clip-level stage + the per-frame one.
  config.train.num_steps = 1
  config.train.batch_size = 2
  config.mesh = (("data", 2),)            # one clip per device (tests/task_configs.py).
  workdir = str(tmp_path / "workdir")
  last = loop.train_and_evaluate(config, workdir,
                                 evaluate_fn=driver.evaluate_in_training)
  assert np.isfinite(last["loss"]) and "tracker_s1_loss_mask" in last
  metrics, output_dir = driver.evaluate_checkpoint(config, workdir,
                                                   workdir=workdir)
  assert set(ytvis_ap.STAT_NAMES) <= set(metrics)
  assert output_dir == os.path.join(workdir, "eval_youtube_vis")
  with open(os.path.join(output_dir, "results.json")) as f:
    assert f.read().startswith("[")
  assert os.path.isfile(os.path.join(output_dir, driver.METRICS_FILE))
