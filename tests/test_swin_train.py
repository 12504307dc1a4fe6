"""The Swin recipes with temporal heads train and evaluate at `,debug`:
`cityscapes_vps.py:swin_b` (the KITTI-STEP Swin-B model: fusion + "update"
link) on the generated Cityscapes-VPS set, and `kitti_step.py:swin_l_short_track_fc`
(fusion + ffn link + one embedding fc) on the generated STEP-format set (no
KITTI-STEP data is generated)."""
import sys

import numpy as np
import pytest

sys.path.insert(0, "configs")
import cityscapes_vps  # pylint: disable=wrong-import-position
import kitti_step  # pylint: disable=wrong-import-position
import synthetic_step  # pylint: disable=wrong-import-position

from video_knet_jax import checkpointing  # pylint: disable=wrong-import-position
from video_knet_jax import evaluate_lib  # pylint: disable=wrong-import-position
from video_knet_jax import train_lib  # pylint: disable=wrong-import-position

# recipe -> (config, drop path, link type, embedding fcs, frames scored).
RECIPES = {
    "cityscapes_vps:swin_b": (lambda: cityscapes_vps.get_config("swin_b,debug"),
                              0.3, "update", 2, 6),
    "kitti_step:swin_l_short_track_fc": (
        lambda: kitti_step.get_config("swin_l_short_track_fc,debug"), 0.2, "ffn", 1, 6),
}


def _config(name: str, data_dir: str):
  make, *_ = RECIPES[name]
  config = make()
  if name.startswith("kitti_step"):
    config.data = synthetic_step.get_config("debug").data
  config.data.data_dir = data_dir
  config.train.num_steps = 1
  config.train.checkpoint_every_steps = 1
  config.train.batch_size = 8                # one clip per emulated device.
  config.train.log_every_steps = 1
  config.train.eval_every_steps = 0
  return config


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RECIPES))
def test_swin_recipe_trains_and_evaluates_at_debug(name, tmp_path):
  config = _config(name, str(tmp_path / "tfds"))
  _, drop_path, link_type, track_fcs, num_frames = RECIPES[name]
  b, t = config.model.backbone, config.model.temporal
  assert (b.name, b.drop_path_rate, t.fusion, t.link_type, t.track_num_fcs) == (
      "swin", drop_path, True, link_type, track_fcs)
  workdir = str(tmp_path / "run")
  last = train_lib.train_and_evaluate(config, workdir)
  assert np.isfinite(last["loss"]) and last["grad_norm"] > 0
  variables = checkpointing.load_train_variables(workdir)
  params = variables["params"]
  assert "patch_embed" in params["backbone"]
  stage = params["roi_head"]["mask_head"]["1"]
  link = "link_ffn_track" if link_type == "update" else "link_ffn"
  assert "attention_previous_update_link" in stage and link in stage
  assert sorted(params["track_head"]["fcs"]) == [str(i) for i in range(track_fcs)]
  metrics = evaluate_lib.evaluate_variables(config, variables, str(tmp_path / "eval"),
                                            num_pictures=0)
  for key in ("STQ", "AQ", "SQ", "VPQ"):
    assert 0.0 <= metrics[key] <= 1.0 or np.isnan(metrics[key]), (key, metrics[key])
  assert metrics["num_frames"] == num_frames
