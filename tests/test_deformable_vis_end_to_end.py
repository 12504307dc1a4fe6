"""configs/youtube_vis.py:deformable,debug (the deformable pixel decoder neck) trains
and evaluates through the YouTube-VIS path train.py and evaluate.py take (vis_lib).

The heads are cut to one per-frame and two tracker stages to keep the compile
cheap (the neck is what is new here; the full heads run in
test_youtube_vis_end_to_end.py). The tiny-Swin variant is checked by a forward
pass in tests/test_deformable_configs.py.
"""
import os
import sys

import numpy as np
import pytest

from video_knet_jax import vis_lib
from video_knet_jax.evaluation import ytvis_ap

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "configs"))
import youtube_vis  # pylint: disable=g-import-not-at-top,wrong-import-position


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
  config.train.batch_size = 8             # one clip per emulated device.
  workdir = str(tmp_path / "workdir")
  last = vis_lib.train_and_evaluate(config, workdir)
  assert np.isfinite(last["loss"]) and "tracker_s1_loss_mask" in last
  metrics = vis_lib.evaluate(config, workdir)
  assert set(ytvis_ap.STAT_NAMES) <= set(metrics)
  with open(os.path.join(workdir, vis_lib.RESULTS_DIR, "results.json")) as f:
    assert f.read().startswith("[")
