"""configs/vspw.py: variants, ':debug' keeps the recipe's keys, the spec's numbers."""

import pytest

from video_knet_jax.datasets import facts as facts_lib

from video_knet_jax.configs import vspw


def test_variants():
  assert vspw.get_config().model.decode_head.base_head == "psp"
  assert vspw.get_config("pspnet").model.decode_head.base_head == "psp"
  assert vspw.get_config("deeplabv3plus").model.decode_head.base_head == "deeplabv3plus"
  assert vspw.get_config("pspnet").model.temporal.fusion
  assert not vspw.get_config("deeplabv3plus,frame").model.temporal.fusion
  full, debug = vspw.get_config(), vspw.get_config("debug")
  assert set(full.keys()) == set(debug.keys())
  assert set(full.model.keys()) == set(debug.model.keys())
  assert len(debug.loss.stage_weights) == debug.model.num_stages
  assert len(full.loss.stage_weights) == full.model.num_stages
  for bad in ("psp", "pspnet,deeplabv3plus"):
    with pytest.raises(ValueError, match="configs/vspw.py"):
      vspw.get_config(bad)


def test_numbers_from_the_specification():
  c = vspw.get_config()
  m = c.model
  assert m.backbone.stage_blocks == (3, 4, 23, 3) and m.backbone.dilations == (1, 1, 2, 4)
  assert m.backbone.strides == (1, 2, 1, 1) and m.backbone.deep_stem
  assert (m.num_stages, m.decode_head.channels, m.update_head.updator_rows) == (3, 512, 256)
  assert (c.loss.aux, c.loss.stage_weights) == (0.4, (1.0, 1.0, 1.0))
  assert (c.optim.lr, c.optim.weight_decay, c.optim.decay_steps) == (1e-4, 5e-4, (60_000, 72_000))
  assert c.data.ref_offsets == (-2, -1, 1, 2) and c.data.crop_size == (736, 736)
  facts_lib.check_config(c, facts_lib.facts_for_name("vspw"))   # 124 classes, 255 ignored.


def test_debug_set_is_generated_through_the_dataset_registry(tmp_path):
  from etils import epath  # pylint: disable=g-import-not-at-top
  from video_knet_jax.datasets import registry  # pylint: disable=g-import-not-at-top
  from video_knet_jax.datasets.vspw import generate  # pylint: disable=g-import-not-at-top
  full, debug = vspw.get_config(), vspw.get_config("debug")
  assert full.data.name == debug.data.name == "vspw" and registry.spec(full) is None
  spec = registry.spec(debug)
  assert spec == generate.GeneratedSpec(seed=0, videos=(("train", 4), ("val", 2)),
                                        frames_per_video=20, height=64, width=64)
  builder = registry.make_builder(debug, epath.Path(tmp_path))
  assert builder.builder_config.name == spec.config_name()
  assert builder.builder_config.facts is facts_lib.facts_for_name("vspw")
  debug.data.generated.fps = 15
  with pytest.raises(ValueError, match="unknown fields.*fps"):
    registry.spec(debug)
