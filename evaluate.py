r"""Evaluates a model of any task (config.task), or scores prediction folders.

Model evaluation (online over every video of the eval split; writes the
task's submission files, metrics.json and pictures under --output_dir,
default WORKDIR/eval_<...>; eval/driver.py):

  python evaluate.py --config=configs/synthetic_step.py --workdir=/tmp/vknet
  python evaluate.py --config=... --workdir=... --association=mask_iou
  python evaluate.py --config=configs/vspw.py:debug --checkpoint=CONVERTED_DIR

An option the config's task does not support (e.g. --association for VSPW or
YouTube-VIS) is refused with a one-line error.

Scoring predictions in a benchmark's official format:

  python evaluate.py --dataset=kitti_step --groundtruth=DIR \
      --predictions=DIR --output=metrics.json

(datasets: kitti_step, cityscapes_vps, vspw, youtube_vis; see
video_knet_jax/evaluation/score_folders.py for the layouts).
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from ml_collections import config_flags

from video_knet_jax.cli import entry_point

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Model config (model evaluation mode).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", "", "A training workdir or converted-variables directory "
    "to evaluate instead of --workdir's latest checkpoint.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default latest).")
_SPLIT = flags.DEFINE_string("split", None, "Split (default config.data.eval_split).")
_ASSOCIATION = flags.DEFINE_enum(
    "association", None, ["embedding", "mask_iou"],
    "panoptic: the learned embedding tracker (default for Video K-Net) or the "
    "mask-IoU baseline (the image K-Net's only one).")
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "Where results go (default WORKDIR/eval_<association> "
    "(panoptic), WORKDIR/eval_semantic, WORKDIR/eval_youtube_vis).")
_MAX_SEQUENCES = flags.DEFINE_integer("max_sequences", None, "Evaluate fewer.")
# Raw-output dump (parity debugging).
_DUMP_FRAMES = flags.DEFINE_string(
    "dump_frames", None, "Instead of scoring, save the last stage's raw outputs "
    "(mask/class logits, kernels, track embeddings) of these frames, "
    "'seq:frame,seq:frame', to --dump_output.")
_DUMP_OUTPUT = flags.DEFINE_string("dump_output", "outputs.npz", ".npz path.")
# Folder-scoring mode.
_DATASET = flags.DEFINE_string("dataset", None, "Score folders of this format.")
_GROUNDTRUTH = flags.DEFINE_string("groundtruth", None, "Ground-truth dir/file.")
_PREDICTIONS = flags.DEFINE_string("predictions", None, "Predictions dir/file.")
_OUTPUT = flags.DEFINE_string("output", "metrics.json", "Scores JSON path.")
_REFERENCE_AREA_ALIASING = flags.DEFINE_bool(
    "reference_area_aliasing", False, "cityscapes_vps: VPQ as the official "
    "script computed it before its 2020-09-30 fix (docs/METRICS.md).")


def _score_folders() -> int:
  from video_knet_jax.evaluation import score_folders  # pylint: disable=g-import-not-at-top
  argv = [f"--dataset={_DATASET.value}",
          f"--groundtruth={_GROUNDTRUTH.value}",
          f"--predictions={_PREDICTIONS.value}", f"--output={_OUTPUT.value}"]
  if _REFERENCE_AREA_ALIASING.value:
    argv.append("--reference_area_aliasing")
  return score_folders.main(argv)


def _check_dump_flags() -> None:
  """--dump_frames replaces scoring: options of scoring are refused with it."""
  from video_knet_jax.cli import entry_point as ep  # pylint: disable=g-import-not-at-top
  if not _DUMP_FRAMES.value:
    if flags.FLAGS["dump_output"].present:
      raise ep.UserError("--dump_output: only used with --dump_frames.")
    return
  for name in ("output_dir", "association", "max_sequences"):
    if flags.FLAGS[name].present:
      raise ep.UserError(f"--{name}: not used with --dump_frames (raw outputs "
                         "go to --dump_output).")


def _evaluate_model() -> int:
  from video_knet_jax.cli import runtime  # pylint: disable=g-import-not-at-top
  if _CONFIG.value is None:
    raise app.UsageError("--config is required to evaluate a model "
                         "(or pass --dataset/--groundtruth/--predictions).")
  source = _CHECKPOINT.value or _WORKDIR.value
  if not source:
    raise app.UsageError("Pass --workdir (or --checkpoint).")
  _check_dump_flags()
  runtime.setup()
  from video_knet_jax.eval import driver  # pylint: disable=g-import-not-at-top
  if _DUMP_FRAMES.value:
    driver.dump_raw_outputs(_CONFIG.value, source, _DUMP_OUTPUT.value,
                            frames=_DUMP_FRAMES.value, split=_SPLIT.value,
                            step=_STEP.value)
    print(f"Raw outputs of {_DUMP_FRAMES.value} written to {_DUMP_OUTPUT.value}")
    return 0
  options = driver.EvalOptions(split=_SPLIT.value,
                               association=_ASSOCIATION.value,
                               max_sequences=_MAX_SEQUENCES.value)
  metrics, output_dir = driver.evaluate_checkpoint(
      _CONFIG.value, source, step=_STEP.value, output_dir=_OUTPUT_DIR.value,
      workdir=_WORKDIR.value, options=options)
  print(driver.describe(_CONFIG.value, metrics, source, output_dir))
  return 0


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if _DATASET.value or _PREDICTIONS.value or _GROUNDTRUTH.value:
    return _score_folders()
  return _evaluate_model()


if __name__ == "__main__":
  sys.exit(app.run(entry_point.guard(main), flags_parser=entry_point.parse_flags))
