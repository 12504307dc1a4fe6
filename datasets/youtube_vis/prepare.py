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


def ensure_dataset(config) -> tfds.core.DatasetBuilder:
  """Generates / builds the set the first time; returns the prepared builder."""
  data_prepare.hide_gpus_from_tf()
  builder = make_builder(config)
  if not builder.is_prepared():
    synthetic = dict(config.data.get("synthetic") or {})
    if synthetic:
      spec = generate.YouTubeVisSpec.from_dict(synthetic)
      manual_dir = generate.write_tree(
          data_prepare.data_dir_root(config) / "downloads" / "manual"
          / spec.config_name(), spec)
    else:
      manual_dir = config.data.manual_dir or None
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=None if manual_dir is None else os.fspath(manual_dir)))
  return builder
