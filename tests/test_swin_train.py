"""The Swin-B debug recipe (fusion + update link) trains and evaluates on the synthetic set."""

import numpy as np
import pytest

from video_knet_jax.configs import kitti_step
from video_knet_jax.configs import synthetic_step

from video_knet_jax.tasks import panoptic_eval  # pylint: disable=wrong-import-position
from video_knet_jax import train  # pylint: disable=wrong-import-position


def swin_debug_on_synthetic(data_dir: str):
  """synthetic_step:debug with the model parts of kitti_step:swin_b,debug swapped in."""
  config = synthetic_step.get_config("debug")
  swin = kitti_step.get_config("swin_b,debug").model
  config.model.backbone = swin.backbone
  config.model.fpn.in_channels = swin.fpn.in_channels
  config.model.temporal.fusion = swin.temporal.fusion
  config.model.temporal.link_type = swin.temporal.link_type
  config.model.dtype = swin.dtype            # 'auto': float32 on CPU.
  config.data.data_dir = data_dir
  config.train.num_steps = 2
  config.train.batch_size = 8                # one clip per emulated device.
  config.train.log_every_steps = 1
  config.train.eval_every_steps = 0
  return config


@pytest.mark.slow
def test_swin_b_debug_trains_and_evaluates(tmp_path):
  config = swin_debug_on_synthetic(str(tmp_path / "tfds"))
  assert config.model.backbone.name == "swin" and config.model.backbone.drop_path_rate == 0.3
  workdir = str(tmp_path / "run")
  last = train.train_and_evaluate(config, workdir)
  assert np.isfinite(last["loss"]) and last["grad_norm"] > 0
  from video_knet_jax import checkpointing  # pylint: disable=g-import-not-at-top
  variables = checkpointing.load_train_variables(workdir)
  assert "patch_embed" in variables["params"]["backbone"]
  fusion = variables["params"]["roi_head"]["mask_head"]["1"]
  assert "attention_previous_update_link" in fusion and "link_ffn_track" in fusion
  metrics = panoptic_eval.evaluate_variables(config, variables, str(tmp_path / "eval"),
                                            num_pictures=0)
  for key in ("STQ", "AQ", "SQ", "VPQ"):
    assert 0.0 <= metrics[key] <= 1.0 or np.isnan(metrics[key]), (key, metrics[key])
  assert metrics["num_frames"] == config.data.synthetic.frames_per_sequence
