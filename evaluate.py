r"""Evaluates Video K-Net, or scores existing prediction folders.

Model evaluation (online over every sequence of the eval split; writes
KITTI-STEP submission PNGs, metrics.json, overlay pictures and a GIF):

  python evaluate.py --config=configs/synthetic_step.py --workdir=/tmp/vknet
  python evaluate.py --config=... --workdir=... --association=mask_iou

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

from video_knet_jax import entry_point

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Model config (model evaluation mode).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", "", "A training workdir or converted-variables directory "
    "to evaluate instead of --workdir's latest checkpoint.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default latest).")
_SPLIT = flags.DEFINE_string("split", None, "Split (default config.data.eval_split).")
_ASSOCIATION = flags.DEFINE_enum(
    "association", "embedding", ["embedding", "mask_iou"],
    "Learned embedding tracker, or the mask-IoU baseline.")
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "Where results go (default WORKDIR/eval_<association>).")
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


def _evaluate_model() -> int:
  from video_knet_jax import checkpointing  # pylint: disable=g-import-not-at-top
  from video_knet_jax import evaluate_lib  # pylint: disable=g-import-not-at-top
  from video_knet_jax import runtime  # pylint: disable=g-import-not-at-top
  if _CONFIG.value is None:
    raise app.UsageError("--config is required to evaluate a model "
                         "(or pass --dataset/--groundtruth/--predictions).")
  source = _CHECKPOINT.value or _WORKDIR.value
  if not source:
    raise app.UsageError("Pass --workdir (or --checkpoint).")
  runtime.setup()
  if _CONFIG.value.model.get("task", "") == "semantic":   # VSPW: semantic K-Net.
    return _evaluate_semantic(source)
  if _CONFIG.value.model.get("family") == "knet_track":   # YouTube-VIS.
    from video_knet_jax import vis_lib  # pylint: disable=g-import-not-at-top
    metrics = vis_lib.evaluate(_CONFIG.value, source, _STEP.value)
    print(f"\nYouTube-VIS ({source}):\n{vis_lib.format_table(metrics)}\n"
          f"Results in {os.path.join(source, vis_lib.RESULTS_DIR)}")
    return 0
  if _DUMP_FRAMES.value:
    from video_knet_jax.convert import dump_outputs  # pylint: disable=g-import-not-at-top
    dump_outputs.run(_CONFIG.value, source, _DUMP_OUTPUT.value,
                     frames=_DUMP_FRAMES.value,
                     split=_SPLIT.value)
    print(f"Raw outputs of {_DUMP_FRAMES.value} written to {_DUMP_OUTPUT.value}")
    return 0
  variables = checkpointing.load_variables_or_workdir(source, _STEP.value)
  evaluate_lib.check_variables_fit(_CONFIG.value, variables, source)
  output_dir = _OUTPUT_DIR.value or os.path.join(
      _WORKDIR.value or source, f"eval_{_ASSOCIATION.value}")
  metrics = evaluate_lib.evaluate_variables(
      _CONFIG.value, variables, output_dir, split=_SPLIT.value,
      association=_ASSOCIATION.value, max_sequences=_MAX_SEQUENCES.value)
  print(f"\n{metrics['association']} association, {metrics['num_frames']} frames "
        f"({source}):\n{evaluate_lib.format_table(metrics)}\n"
        f"Results in {output_dir}")
  return 0


def _evaluate_semantic(source: str) -> int:
  """mIoU / mVC of a semantic K-Net (a train.py workdir or a variables tree)."""
  from video_knet_jax import checkpointing  # pylint: disable=g-import-not-at-top
  from video_knet_jax import semantic_evaluate_lib  # pylint: disable=g-import-not-at-top
  variables = checkpointing.load_variables_or_workdir(source)
  output_dir = _OUTPUT_DIR.value or os.path.join(_WORKDIR.value or source, "eval_semantic")
  metrics = semantic_evaluate_lib.evaluate_variables(
      _CONFIG.value, variables, output_dir, split=_SPLIT.value, max_videos=_MAX_SEQUENCES.value)
  print(f"\n{metrics['num_frames']} frames ({source}): "
        f"{semantic_evaluate_lib.format_table(metrics)}\nResults in {output_dir}")
  return 0


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if _DATASET.value or _PREDICTIONS.value or _GROUNDTRUTH.value:
    return _score_folders()
  return _evaluate_model()


if __name__ == "__main__":
  sys.exit(app.run(entry_point.guard(main), flags_parser=entry_point.parse_flags))
