"""Tiny STEP trees in temporary directories, shared by the builder tests."""

import pytest

from tests.datasets import builders
from video_knet_jax.datasets.kitti_step import kitti_step_dataset_builder as kb
from video_knet_jax.datasets.synthetic_step import spec as spec_lib

TINY = spec_lib.SyntheticSpec(seed=3, num_train_sequences=2, num_val_sequences=1,
                              frames_per_sequence=4, height=48, width=96)


def build(manual_dir, data_dir, spec=TINY, facts=None):
  """Builds `manual_dir` with the KITTI-STEP builder; facts default to
  `spec`'s."""
  return builders.prepare(
      kb.Builder, kb.StepConfig(name="tiny", facts=facts or spec.facts()),
      manual_dir, data_dir)


def read_split(builder, split, raw=False):
  """All examples of a split as numpy dicts, in stored order."""
  return builders.read_split(
      builder, split, skip=("image", "panoptic_label") if raw else ())


@pytest.fixture
def tiny_spec():
  return TINY


@pytest.fixture
def step():
  """The helpers above, for test modules (importlib mode has no test imports)."""
  class Helpers:
    pass
  helpers = Helpers()
  helpers.build = build
  helpers.read_split = read_split
  return helpers
