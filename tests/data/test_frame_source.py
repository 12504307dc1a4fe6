"""Frames read by row from the prepared ArrayRecord files."""
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from video_knet_jax.datasets.kitti_step import kitti_step_dataset_builder as kb
from video_knet_jax.datasets.kitti_step import label_codec
from video_knet_jax.datasets.synthetic_step import generate
from video_knet_jax.datasets.synthetic_step import spec as spec_lib
from video_knet_jax.data import frame_source
from video_knet_jax.data import prepare


def test_rows_read_the_generated_frames(tiny_config):
  spec = spec_lib.SyntheticSpec.from_dict(tiny_config.data.synthetic)
  builder = prepare.ensure_dataset(tiny_config)
  share = tfds.even_splits("train", n=2)[1]      # any TFDS split string.
  source = frame_source.load_frame_source(builder, share)
  assert len(source) == spec.frames_per_sequence
  np.testing.assert_array_equal(source.sequence_ids, 1)
  np.testing.assert_array_equal(source.frame_indices,
                                np.arange(spec.frames_per_sequence))
  assert source.has_label.all()
  images, semantic, instance = generate.render_sequence(spec, 1)
  rows = np.array([4, 0, 4])                     # any order, repeats allowed.
  encoded_images, encoded_labels = source.read_encoded(rows)
  for i, row in enumerate(rows):
    np.testing.assert_array_equal(
        source.decode_image(encoded_images[i]).numpy(), images[row])
    sem, ins = label_codec.decode_rgb_label(
        source.decode_label(encoded_labels[i]).numpy())
    np.testing.assert_array_equal(sem, semantic[row])
    np.testing.assert_array_equal(ins, instance[row])
    things = np.unique(label_codec.panoptic_ids(
        sem[np.isin(sem, (11, 13)) & (ins > 0)],
        ins[np.isin(sem, (11, 13)) & (ins > 0)]))
    np.testing.assert_array_equal(source.thing_ids[row], things)


def test_a_tfrecord_build_is_refused_naming_its_directory(tiny_config, tmp_path):
  spec = spec_lib.SyntheticSpec.from_dict(tiny_config.data.synthetic)
  prepare.ensure_dataset(tiny_config)           # writes the generated tree.
  manual = prepare.data_dir_root(tiny_config) / "downloads" / "manual" / (
      spec.config_name())
  builder = kb.Builder(config=kb.StepConfig(name="tfrecord", facts=spec.facts()),
                       data_dir=os.fspath(tmp_path))      # TFDS default format.
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=os.fspath(manual)))
  with pytest.raises(ValueError, match="not ArrayRecord"):
    frame_source.load_frame_source(builder, "val")
