"""Tiny STEP trees in temporary directories, shared by the builder tests."""
import os

import pytest
import tensorflow_datasets as tfds

from video_knet_jax.datasets.kitti_step import kitti_step_dataset_builder as kb
from video_knet_jax.datasets.synthetic_step import spec as spec_lib

TINY = spec_lib.SyntheticSpec(seed=3, num_train_sequences=2, num_val_sequences=1,
                              frames_per_sequence=4, height=48, width=96)


def build(manual_dir, data_dir, spec=TINY, facts=None):
  """Builds `manual_dir` with the builder; facts default to `spec`'s."""
  builder = kb.Builder(
      config=kb.StepConfig(name="tiny", facts=facts or spec.facts()),
      data_dir=os.fspath(data_dir))
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=os.fspath(manual_dir)))
  return builder


def read_split(builder, split, raw=False):
  """All examples of a split as numpy dicts, in stored order."""
  decoders = None
  if raw:
    decoders = {"image": tfds.decode.SkipDecoding(),
                "panoptic_label": tfds.decode.SkipDecoding()}
  ds = builder.as_dataset(split=split, shuffle_files=False, decoders=decoders)
  return list(tfds.as_numpy(ds))


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
