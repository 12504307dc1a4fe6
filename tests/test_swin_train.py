"""`kitti_step.py:swin_l_short_track_fc,debug` (Swin, kernel fusion, the ffn
link, one embedding fc) trains and evaluates on the generated STEP-format set
(no KITTI-STEP data is generated). The `..._joint_update` Swin model (fusion +
"update" link) trains as `cityscapes_vps.py:swin_b` in
test_new_datasets_end_to_end.py."""

import numpy as np
import pytest

from video_knet_jax.configs import kitti_step
from video_knet_jax.configs import synthetic_step

from video_knet_jax import checkpointing  # pylint: disable=wrong-import-position
from video_knet_jax import train  # pylint: disable=wrong-import-position
from video_knet_jax.tasks import panoptic_eval  # pylint: disable=wrong-import-position


@pytest.mark.slow
def test_swin_l_short_track_fc_debug_trains_and_evaluates(tmp_path):
  config = kitti_step.get_config("swin_l_short_track_fc,debug")
  config.data = synthetic_step.get_config("debug").data
  config.data.data_dir = str(tmp_path / "tfds")
  config.train.num_steps = 1
  config.train.batch_size = 8                # one clip per emulated device.
  config.train.log_every_steps = 1
  config.train.eval_every_steps = 0
  b, t = config.model.backbone, config.model.temporal
  assert (b.name, b.drop_path_rate, t.fusion, t.link_type, t.track_num_fcs) == (
      "swin", 0.2, True, "ffn", 1)
  workdir = str(tmp_path / "run")
  last = train.train_and_evaluate(config, workdir)
  assert np.isfinite(last["loss"]) and last["grad_norm"] > 0
  variables = checkpointing.load_train_variables(workdir)
  params = variables["params"]
  assert "patch_embed" in params["backbone"]
  stage = params["roi_head"]["mask_head"]["1"]
  assert "attention_previous_update_link" in stage and "link_ffn" in stage
  assert "link_ffn_track" not in stage and sorted(params["track_head"]["fcs"]) == ["0"]
  metrics = panoptic_eval.evaluate_variables(config, variables, str(tmp_path / "eval"),
                                            num_pictures=0)
  for key in ("STQ", "AQ", "SQ", "VPQ"):
    assert 0.0 <= metrics[key] <= 1.0 or np.isnan(metrics[key]), (key, metrics[key])
  assert metrics["num_frames"] == config.data.synthetic.frames_per_sequence
