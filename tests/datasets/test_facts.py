"""The dataset-facts record and its lookup from a config."""

import pytest

from video_knet_jax.datasets import cityscapes_labels
from video_knet_jax.datasets import facts as facts_lib
from video_knet_jax.datasets.kitti_step import facts as kitti_facts

from video_knet_jax.configs import kitti_step
from video_knet_jax.configs import synthetic_step


def _made_up(**overrides):
  """7 classes, things 5, 1, 3 in that (non-contiguous) model order."""
  fields = dict(name="made_up", class_names=tuple("abcdefg"),
                thing_ids=(5, 1, 3), void_label=255, label_divisor=100,
                colors=tuple((10 * i, 0, 0) for i in range(7)))
  fields.update(overrides)
  return facts_lib.DatasetFacts(**fields)


def test_model_order_is_things_in_given_order_then_stuff_increasing():
  f = _made_up()
  assert f.num_classes == 7 and f.num_things == 3 and f.num_stuff == 4
  assert f.stuff_ids == (0, 2, 4, 6)
  assert f.model_to_semantic == (5, 1, 3, 0, 2, 4, 6)
  assert f.thing_names == ("f", "b", "d")
  assert f.is_thing(3) and not f.is_thing(0)
  assert f.valid_label_values() == frozenset(range(7)) | {255}


@pytest.mark.parametrize("overrides, match", [
    (dict(thing_ids=(1, 1)), "thing_ids"),
    (dict(thing_ids=(7,)), "thing_ids"),
    (dict(void_label=6), "void_label"),
    (dict(label_divisor=0), "label_divisor"),
    (dict(colors=((0, 0, 0),)), "colors"),
    (dict(class_names=()), "class_names"),
])
def test_bad_records_raise_naming_the_field(overrides, match):
  with pytest.raises(ValueError, match=match):
    _made_up(**overrides)


def test_kitti_step_facts_are_the_cityscapes_label_space():
  f = kitti_facts.KITTI_STEP
  assert isinstance(f, facts_lib.DatasetFacts)
  assert f.thing_names == ("person", "car")
  assert f.label_divisor == 1000 and f.void_label == 255
  assert f.colors[13] == (0, 0, 142)   # car, cityscapesScripts' colour.
  assert f.model_to_semantic[:2] == (11, 13) and len(f.stuff_ids) == 17


@pytest.mark.parametrize("module", [kitti_step, synthetic_step])
def test_facts_for_config_agrees_with_the_shipped_configs(module):
  config = module.get_config()
  f = facts_lib.facts_for_config(config)
  assert f.name == config.data.name
  assert f.num_classes == len(cityscapes_labels.CLASS_NAMES)
  assert f.thing_ids == tuple(config.data.thing_train_ids)


def test_facts_for_config_names_a_disagreeing_field():
  config = kitti_step.get_config()
  config.model.num_stuff_classes = 16
  with pytest.raises(ValueError, match="config.model.num_stuff_classes=16"):
    facts_lib.facts_for_config(config)
  config = kitti_step.get_config()
  config.data.thing_train_ids = (13, 11)
  with pytest.raises(ValueError, match="config.data.thing_train_ids"):
    facts_lib.facts_for_config(config)


def test_unknown_name_and_registering_a_record():
  with pytest.raises(ValueError, match="no dataset facts"):
    facts_lib.facts_for_name("no_such_set")
  facts_lib.register("made_up_for_test", _made_up)
  try:
    assert facts_lib.facts_for_name("made_up_for_test").thing_ids == (5, 1, 3)
  finally:
    facts_lib._REGISTRY.pop("made_up_for_test")   # pylint: disable=protected-access
