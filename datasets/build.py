r"""Builds a data set from Python (the `tfds build` CLI needs apache_beam).

  # KITTI-STEP from a manually downloaded tree (either layout, docs/DATA.md):
  python -m datasets.build --dataset=kitti_step \
      --manual_dir=/data/kitti-step --data_dir=~/tensorflow_datasets
  # Cityscapes-STEP / Cityscapes-VPS / VIPSeg / VSPW from their trees (docs/DATA.md):
  python -m datasets.build --dataset=vipseg --manual_dir=/data/VIPSeg_720P
  # The synthetic set of a config (what training does on first use):
  python -m datasets.build --config=configs/synthetic_step.py
  # Only write the synthetic tree (e.g. to look at it), in either layout:
  python -m datasets.build --dataset=synthetic_step --tree_only \
      --manual_dir=/tmp/synthetic_tree --layout=video_knet
"""
import importlib

from absl import app
from absl import flags
from ml_collections import config_flags

from video_knet_jax.cli import entry_point

_DATASET = flags.DEFINE_enum("dataset", None, [
    "kitti_step", "synthetic_step", "cityscapes_step", "cityscapes_vps",
    "vipseg", "vspw", "coco"], "Data set to build (or use --config).")
config_flags.DEFINE_config_file("config", None, "A training config; its "
                                "config.data selects and sizes the data set.")
_MANUAL_DIR = flags.DEFINE_string("manual_dir", None, "KITTI-STEP tree (input) "
                                  "or, with --tree_only, output directory.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data_dir (output).")
_TREE_ONLY = flags.DEFINE_bool("tree_only", False, "synthetic_step: write the "
                               "PNG tree to --manual_dir and stop.")
_LAYOUT = flags.DEFINE_enum("layout", "deeplab2", ["deeplab2", "video_knet"],
                            "Layout of the synthetic tree with --tree_only.")


def _config():
  """The config to build from: --config, or kitti_step.py's defaults."""
  config = flags.FLAGS.config
  if config is None:
    if _DATASET.value is None:
      raise app.UsageError("Pass --dataset or --config.")
    # configs/<dataset>.py holds each data set's recipe.
    module = importlib.import_module(f"video_knet_jax.configs.{_DATASET.value}")
    config = module.get_config()
  if _MANUAL_DIR.value:
    config.data.manual_dir = _MANUAL_DIR.value
  if _DATA_DIR.value:
    config.data.data_dir = _DATA_DIR.value
  return config


def main(argv):
  del argv
  config = _config()
  if _TREE_ONLY.value:
    from video_knet_jax.datasets.synthetic_step import generate  # pylint: disable=g-import-not-at-top
    from video_knet_jax.datasets.synthetic_step import spec  # pylint: disable=g-import-not-at-top
    if config.data.name != "synthetic_step" or not _MANUAL_DIR.value:
      raise app.UsageError("--tree_only needs synthetic_step and --manual_dir.")
    root = generate.write_tree(_MANUAL_DIR.value,
                               spec.SyntheticSpec.from_dict(config.data.synthetic),
                               layout=_LAYOUT.value)
    print(f"Wrote {root}")
    return
  from video_knet_jax.data import prepare  # pylint: disable=g-import-not-at-top
  builder = prepare.ensure_dataset(config)
  print(f"Prepared {builder.data_dir}:")
  for name, split in builder.info.splits.items():
    print(f"  {name}: {split.num_examples} frames")


if __name__ == "__main__":
  app.run(entry_point.guard(main), flags_parser=entry_point.parse_flags)
