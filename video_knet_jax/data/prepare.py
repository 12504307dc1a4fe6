"""Makes sure the data set a config names is built, and returns its builder.

`config.data.name`:
  'kitti_step'     built from the tree in `config.data.manual_dir` (or TFDS's
                   default `<data_dir>/downloads/manual/`) the first time.
  'synthetic_step' generated from `config.data.synthetic` into
                   `<data_dir>/downloads/manual/<config name>/`, then built by
                   the same KITTI-STEP builder, the first time.
  'youtube_vis'    datasets/youtube_vis/prepare.py (the real tree, or
                   generated from `config.data.synthetic`).
  others           Cityscapes-STEP/-VPS, VIPSeg, VSPW: datasets/registry.py
                   (real trees, or generated from `config.data.generated`).
Every task's data goes through `ensure_dataset`, so every builder is
prepared once (by process 0 of a multi-host run, the others waiting).
`config.data.data_dir` ('' = $TFDS_DATA_DIR or ~/tensorflow_datasets) holds
the prepared data under `kitti_step/<config name>/<version>/`, as ArrayRecord
files: training reads frames by index from them (data/frame_source.py).
"""
import os

import jax
import tensorflow as tf
import tensorflow_datasets as tfds
from etils import epath
from jax.experimental import multihost_utils

from video_knet_jax.datasets import registry
from video_knet_jax.datasets.kitti_step import kitti_step_dataset_builder as kitti_step_builder
from video_knet_jax.datasets.synthetic_step import generate as synthetic_generate
from video_knet_jax.datasets.synthetic_step import spec as synthetic_spec

KITTI_STEP = "kitti_step"
SYNTHETIC_STEP = "synthetic_step"
YOUTUBE_VIS = "youtube_vis"
# Random access by example index (tfds as_data_source) needs ArrayRecord.
FILE_FORMAT = tfds.core.FileFormat.ARRAY_RECORD


def data_dir_root(config) -> epath.Path:
  """Where prepared data (and generated raw trees) live."""
  root = (config.data.data_dir or os.environ.get("TFDS_DATA_DIR")
          or "~/tensorflow_datasets")
  return epath.Path(os.path.expanduser(root))


def make_builder(config) -> tfds.core.DatasetBuilder:
  """The (possibly unprepared) builder for `config.data.name`."""
  root = data_dir_root(config)
  if config.data.name == KITTI_STEP:
    return kitti_step_builder.Builder(config=KITTI_STEP, data_dir=os.fspath(root),
                                      file_format=FILE_FORMAT)
  if config.data.name == SYNTHETIC_STEP:
    spec = synthetic_spec.SyntheticSpec.from_dict(config.data.synthetic)
    step_config = kitti_step_builder.StepConfig(
        name=spec.config_name(), facts=spec.facts(),
        description=f"Generated STEP-format set {spec}.")
    return kitti_step_builder.Builder(config=step_config,
                                      data_dir=os.fspath(root),
                                      file_format=FILE_FORMAT)
  if config.data.name == YOUTUBE_VIS:
    from video_knet_jax.datasets.youtube_vis import prepare as ytvis_prepare  # pylint: disable=g-import-not-at-top
    return ytvis_prepare.make_builder(config)
  if config.data.name in registry.DATASETS:
    return registry.make_builder(config, root, file_format=FILE_FORMAT)
  raise ValueError(f"config.data.name={config.data.name!r}; expected one of "
                   f"{[KITTI_STEP, SYNTHETIC_STEP, YOUTUBE_VIS] + sorted(registry.DATASETS)}.")


def hide_gpus_from_tf() -> None:
  """TF (data only) must not grab accelerator memory that JAX needs."""
  try:
    tf.config.set_visible_devices([], "GPU")
  except RuntimeError:   # TF already initialised its devices.
    pass


def ensure_dataset(config) -> tfds.core.DatasetBuilder:
  """Generates/builds the data set on first use; returns a prepared builder.

  With several processes, process 0 prepares and the others wait (the
  data_dir must then be on a shared file system).
  """
  hide_gpus_from_tf()
  builder = make_builder(config)
  if not builder.is_prepared():
    if jax.process_index() == 0:
      _prepare(config, builder)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices("video_knet_jax.data.prepare")
      builder = make_builder(config)
  return builder


def _prepare(config, builder) -> None:
  if config.data.name == SYNTHETIC_STEP:
    spec = synthetic_spec.SyntheticSpec.from_dict(config.data.synthetic)
    manual_dir = synthetic_generate.write_tree(
        data_dir_root(config) / "downloads" / "manual" / spec.config_name(),
        spec)
  elif config.data.name == YOUTUBE_VIS:
    from video_knet_jax.datasets.youtube_vis import prepare as ytvis_prepare  # pylint: disable=g-import-not-at-top
    manual_dir = ytvis_prepare.manual_dir(config)
  elif config.data.name in registry.DATASETS:
    manual_dir = registry.manual_dir(config, data_dir_root(config))
  else:
    manual_dir = config.data.manual_dir or None
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=None if manual_dir is None else os.fspath(manual_dir)))
