"""configs/youtube_vis.py:debug trains and evaluates on the generated set."""
import json
import os
import sys

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from video_knet_jax import vis_lib
from video_knet_jax.evaluation import ytvis_ap

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "configs"))
import youtube_vis  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.mark.slow
def test_debug_train_then_evaluate_writes_a_loadable_results_json(tmp_path):
  config = youtube_vis.get_config("debug")
  config.data.data_dir = str(tmp_path / "tfds")
  config.train.num_steps = 2
  config.train.batch_size = 8             # one clip per emulated device.
  workdir = str(tmp_path / "workdir")
  last = vis_lib.train_and_evaluate(config, workdir)
  assert np.isfinite(last["loss"])
  metrics = vis_lib.evaluate(config, workdir)
  assert set(ytvis_ap.STAT_NAMES) <= set(metrics)
  assert "AP" in vis_lib.format_table(metrics)

  out = os.path.join(workdir, vis_lib.RESULTS_DIR)
  with open(os.path.join(out, "results.json")) as f:
    results = json.load(f)
  with open(os.path.join(out, "groundtruth.json")) as f:
    gt = json.load(f)
  videos = {v["id"]: v for v in gt["videos"]}
  # 2 local val videos (every 3rd of 6), max_per_video entries each.
  assert len(videos) == 2
  assert len(results) == 2 * config.inference.max_per_video
  for r in results:
    video = videos[r["video_id"]]
    assert 1 <= r["category_id"] <= 40 and 0 <= r["score"] <= 1
    assert len(r["segmentations"]) == video["length"]
    for seg in r["segmentations"]:   # every frame an RLE of the video size.
      rle = {"size": seg["size"], "counts": seg["counts"].encode()}
      assert mask_utils.decode(rle).shape == (video["height"], video["width"])
  for video_id in videos:   # a picture of the tracked masks per video.
    assert os.path.exists(os.path.join(out, "pictures", f"{video_id}.png"))
  # The official evaluation semantics load and score it.
  stats = ytvis_ap.YouTubeVISEval(gt).evaluate(results)["stats"]
  assert dict(stats)["AP"] == metrics["AP"]
