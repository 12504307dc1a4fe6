r"""Peak host memory and throughput of the training input pipeline.

Runs `panoptic_clips.make_train_dataset` (no model) on a generated
STEP-format split, with the data block of a config (default: the KITTI-STEP
recipe's batch and crop), and prints the process's peak RSS and clips/s.
Build the data set first (a separate process, so its memory is not counted):

  python -m video_knet_jax.data.benchmark_input --build_only \
      --sequences=2 --frames_per_sequence=24 --data_dir=/tmp/input_bench
  python -m video_knet_jax.data.benchmark_input \
      --sequences=2 --frames_per_sequence=24 --data_dir=/tmp/input_bench
  # Another config's own data set (as its config.data names it), e.g. a
  # generated Cityscapes-VPS-format set at 2048x1024 with the recipe's crop:
  python -m video_knet_jax.data.benchmark_input --nogenerated --build_only \
      --config=configs/cityscapes_vps.py:debug --data_dir=/tmp/cvps_bench \
      --config.data.generated.height=1024 --config.data.generated.width=2048
  python -m video_knet_jax.data.benchmark_input --nogenerated \
      --config=configs/cityscapes_vps.py:debug --data_dir=/tmp/cvps_bench \
      --config.data.generated.height=1024 --config.data.generated.width=2048 \
      --config.data.base_size="(1024,2048)" --config.data.scale_range="(0.5,2.0)" \
      --config.data.crop_size="(1024,1024)" --config.data.max_instances=64 \
      --batch_size=16
"""
import os
import resource
import sys
import time

from absl import app
from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", "configs/kitti_step.py", "Config whose data block (crop, batch, "
    "refs, augmentation) is used; fields can be overridden (--config.a.b=v).")
_DATA_DIR = flags.DEFINE_string("data_dir", "", "TFDS data_dir ('': "
                                "/tmp/input_bench for generated sets, else "
                                "the config's).")
_SEQUENCES = flags.DEFINE_integer("sequences", 2, "Generated train sequences.")
_FRAMES = flags.DEFINE_integer("frames_per_sequence", 24, "Frames per sequence.")
_HEIGHT = flags.DEFINE_integer("height", 384, "Generated frame height.")
_WIDTH = flags.DEFINE_integer("width", 1248, "Generated frame width.")
_BATCH = flags.DEFINE_integer("batch_size", 0, "Clips per batch (0: the "
                              "config's config.train.batch_size).")
_BATCHES = flags.DEFINE_integer("batches", 20, "Batches timed after warm-up.")
_WARMUP = flags.DEFINE_integer("warmup", 3, "Batches read before timing.")
_BUILD_ONLY = flags.DEFINE_bool("build_only", False, "Prepare the set and stop.")
_GENERATED = flags.DEFINE_bool("generated", True, "Replace the config's data "
                               "set by a generated STEP-format set of the "
                               "flags' size; --nogenerated keeps config.data.")


def _peak_rss_mib() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux: KiB.


def _config():
  config = _CONFIG.value
  if not _GENERATED.value:
    if _DATA_DIR.value:
      config.data.data_dir = _DATA_DIR.value
    return config
  config.data.name = "synthetic_step"
  config.data.data_dir = _DATA_DIR.value or "/tmp/input_bench"
  config.data.synthetic = dict(
      seed=0, num_train_sequences=_SEQUENCES.value, num_val_sequences=1,
      first_val_sequence=max(1000, _SEQUENCES.value),
      frames_per_sequence=_FRAMES.value, height=_HEIGHT.value,
      width=_WIDTH.value)
  return config


def main(argv):
  del argv
  sys.path.insert(0, os.getcwd())
  from video_knet_jax.data import panoptic_clips  # pylint: disable=g-import-not-at-top
  from video_knet_jax.data import prepare  # pylint: disable=g-import-not-at-top
  config = _config()
  if _BUILD_ONLY.value:
    builder = prepare.ensure_dataset(config)
    print(f"prepared {builder.data_dir}")
    return
  if not prepare.make_builder(config).is_prepared():
    raise app.UsageError("Run with --build_only first (same flags).")
  rss_imports = _peak_rss_mib()
  batch_size = _BATCH.value or int(config.train.batch_size)
  builder = prepare.make_builder(config)
  frames = builder.info.splits[config.data.train_split].num_examples
  size = (f"{_HEIGHT.value}x{_WIDTH.value}" if _GENERATED.value
          else f"{config.data.name}'s size")
  ds = panoptic_clips.make_train_dataset(config, batch_size=batch_size)
  it = ds.as_numpy_iterator()
  for _ in range(_WARMUP.value):
    next(it)
  start = time.perf_counter()
  for _ in range(_BATCHES.value):
    next(it)
  seconds = time.perf_counter() - start
  clips = _BATCHES.value * batch_size
  print(f"split: {frames} frames of {size}; batch "
        f"{batch_size} clips of {1 + int(config.data.num_refs)} frames, crop "
        f"{tuple(config.data.crop_size)}")
  print(f"peak RSS: {_peak_rss_mib():.0f} MiB (after imports: "
        f"{rss_imports:.0f} MiB)")
  print(f"throughput: {clips / seconds:.2f} clips/s ({clips} clips in "
        f"{seconds:.1f} s, {os.cpu_count()} CPUs visible)")


if __name__ == "__main__":
  app.run(main)
