"""The YouTube-VIS builder of a config, generated and built on first use.

`config.data.synthetic` non-empty: a generated set (generate.YouTubeVisSpec)
written under `<data_dir>/downloads/manual/<spec name>/`; otherwise the
manually downloaded tree in `config.data.manual_dir`.
"""
import os

import tensorflow_datasets as tfds

from video_knet_jax.datasets.youtube_vis import generate
from video_knet_jax.datasets.youtube_vis import youtube_vis_dataset_builder as yb
from video_knet_jax.data import prepare as data_prepare


def make_builder(config) -> tfds.core.DatasetBuilder:
  root = data_prepare.data_dir_root(config)
  synthetic = dict(config.data.get("synthetic") or {})
  name = (generate.YouTubeVisSpec.from_dict(synthetic).config_name()
          if synthetic else "youtube_vis_2019")
  name += f"_val{int(config.data.val_every)}"
  return yb.Builder(config=yb.YouTubeVisConfig(
      name=name, val_every=int(config.data.val_every)),
                    data_dir=os.fspath(root),
                    file_format=data_prepare.FILE_FORMAT)


def manual_dir(config):
  """Where the builder reads from; writes the generated tree if asked to."""
  synthetic = dict(config.data.get("synthetic") or {})
  if not synthetic:
    return config.data.manual_dir or None
  spec = generate.YouTubeVisSpec.from_dict(synthetic)
  return generate.write_tree(
      data_prepare.data_dir_root(config) / "downloads" / "manual"
      / spec.config_name(), spec)


def ensure_dataset(config) -> tfds.core.DatasetBuilder:
  """Generates / builds the set the first time; returns the prepared builder
  (video_knet_jax.data.prepare.ensure_dataset, which every data set uses)."""
  return data_prepare.ensure_dataset(config)
