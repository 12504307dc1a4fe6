"""Configs: both recipes build, ':debug' shrinks them, overrides are checked."""

import pytest
from absl import flags
from ml_collections import config_flags

from video_knet_jax.configs import kitti_step
from video_knet_jax.configs import synthetic_step


@pytest.mark.parametrize("module", [kitti_step, synthetic_step])
def test_debug_variant_is_the_same_recipe_smaller(module):
  full, debug = module.get_config(), module.get_config("debug")
  assert set(full.keys()) == set(debug.keys())
  assert debug.model.feat_channels < full.model.feat_channels
  assert debug.train.batch_size <= full.train.batch_size
  assert len(debug.loss.stage_weights) == debug.model.num_stages
  assert len(full.loss.stage_weights) == full.model.num_stages


def test_paper_numbers_live_in_the_kitti_step_config():
  c = kitti_step.get_config()
  assert (c.model.num_proposals, c.model.num_stages) == (100, 3)
  assert (c.optim.lr, c.optim.weight_decay, c.optim.backbone_lr_mult) == (
      1e-4, 0.05, 0.25)
  assert (c.loss.cls, c.loss.mask, c.loss.dice, c.loss.track) == (
      2.0, 1.0, 4.0, 0.25)
  assert c.data.ref_offsets == (-2, -1, 1, 2)
  assert c.tracker.memo_tracklet_frames == 5
  assert c.tracker.memo_momentum == 0.8


def test_short_synthetic_variant_only_halves_the_schedule():
  full, short = synthetic_step.get_config().to_dict(), synthetic_step.get_config("short").to_dict()
  assert 2 * short["train"].pop("num_steps") == full["train"].pop("num_steps") == 7600
  (decay_short,), (decay_full,) = short["optim"].pop("decay_steps"), full["optim"].pop("decay_steps")
  assert 2 * decay_short == decay_full == 6700  # same fraction of the schedule.
  assert short == full


def test_unknown_config_argument_is_refused():
  with pytest.raises(ValueError, match="debugg"):
    kitti_step.get_config("debugg")
  with pytest.raises(ValueError, match="shortt"):
    synthetic_step.get_config("shortt")


def _parse(argv):
  values = flags.FlagValues()
  # Override flags are found in argv when the config flag is defined.
  config_flags.DEFINE_config_file("config", None, "", flag_values=values,
                                  lock_config=True, sys_argv=["prog"] + argv)
  values(["prog"] + argv)
  return values.config


def test_command_line_overrides_apply_and_typos_name_the_field():
  config = _parse(["--config=configs/synthetic_step.py:debug",
                   "--config.model.num_stages=1", "--config.optim.lr=0.5"])
  assert config.model.num_stages == 1 and config.optim.lr == 0.5
  assert config.data.name == "synthetic_step"
  with pytest.raises(Exception, match="num_stagez"):
    _parse(["--config=configs/kitti_step.py", "--config.model.num_stagez=1"])


def test_every_config_and_argument_keeps_its_recorded_values():
  """tests/config_values.json (tests/config_snapshot.py) was recorded before
  configs/ became a package; a meant recipe change regenerates it."""
  import json  # pylint: disable=g-import-not-at-top
  from tests import config_snapshot  # pylint: disable=g-import-not-at-top
  with open("tests/config_values.json") as f:
    recorded = json.load(f)
  for spec, want in recorded.items():
    name, arg = spec.split(":", 1)
    got = config_snapshot.flatten(config_snapshot.load(name, arg))
    changed = {k: (want.get(k, "<absent>"), got.get(k, "<absent>"))
               for k in set(want) | set(got) if want.get(k, "<absent>") != got.get(k, "<absent>")}
    assert not changed, (spec, changed)
