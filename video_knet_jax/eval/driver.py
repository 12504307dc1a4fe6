"""The one evaluation driver: load, check, evaluate, write, print.

  python evaluate.py --config=CONFIG --workdir=DIR [--step=N] [--split=S]
      [--output_dir=D] [--max_sequences=N] [--association=A] [--checkpoint=C]

For every task (config.task): the variables come from a training workdir
(latest or `--step` checkpoint) or a converted-variables directory; they are
checked against the config's model before any data set is read or built;
the task's evaluation runs over its eval split, one video at a time; its
files are written under a `.partial` sibling of the output directory and
swapped in when complete, metrics.json last, so a kill never leaves a
complete-looking result; the table is printed. A split without labels (a
benchmark's test split) is predicted and its submission written; nothing is
scored, no metrics.json is written, and one line says so. Inside training
(`evaluate_in_training`) every process scores and process 0 alone writes
metrics.json under WORKDIR/eval/step_<N>. An option the task does not
support is refused with a one-line error (tasks/base.py).
"""
import glob
import os
import shutil

import jax
import numpy as np
from absl import logging

from video_knet_jax import atomic_files
from video_knet_jax import checkpointing
from video_knet_jax.cli import entry_point
from video_knet_jax import sharding
from video_knet_jax import tasks
from video_knet_jax.tasks import base

METRICS_FILE = "metrics.json"
UNSCORED = ("An unlabelled split: predicted and written for the benchmark "
            "server, nothing scored (no metrics.json).")
EvalOptions = base.EvalOptions


def check_variables_fit(config, variables, source: str, task=None) -> None:
  """Raises CheckpointMismatchError naming `source` unless `variables` has the
  paths and shapes of `config`'s model (no data set is touched)."""
  task = task or tasks.get(config)
  model = task.build_model(config)
  abstract = jax.eval_shape(
      lambda rng: task.init_variables(model, config, rng), jax.random.key(0))
  mismatch = checkpointing.describe_mismatch(
      {"params": abstract["params"],
       "batch_stats": abstract.get("batch_stats", {})},
      {"params": variables.get("params", {}),
       "batch_stats": variables.get("batch_stats", {})})
  if mismatch:
    raise checkpointing.CheckpointMismatchError(
        f"{source}: the checkpoint does not fit the model of --config "
        f"({mismatch}).")


def _json_default(x):
  if isinstance(x, (np.floating, np.integer, np.bool_)):
    return x.item()
  raise TypeError(f"not JSON serialisable: {type(x)}")


def write_metrics(output_dir: str, metrics: dict) -> None:
  atomic_files.write_json(os.path.join(output_dir, METRICS_FILE), metrics,
                          indent=2, default=_json_default)


def evaluate(config, variables, output_dir: str | None,
             options: EvalOptions = EvalOptions(), task=None) -> dict:
  """Runs the task's evaluation; writes its files and metrics.json.

  `output_dir=None` computes the metrics and writes nothing (the processes
  other than 0 of a multi-host run). The task fills a `.partial` sibling of
  `output_dir`; each of its top-level files and folders then replaces the
  one in `output_dir`, and metrics.json comes last.
  """
  task = task or tasks.get(config)
  base.check_options(task, config, options)
  if output_dir is None:
    return task.evaluate(config, variables, None, options)
  output_dir = os.path.abspath(output_dir)
  os.makedirs(output_dir, exist_ok=True)
  for leftover in glob.glob(f"{output_dir}{atomic_files.PARTIAL}-*"):
    shutil.rmtree(leftover, ignore_errors=True)   # of a killed evaluation.
  staging = f"{output_dir}{atomic_files.PARTIAL}-{os.getpid()}"
  os.makedirs(staging)
  try:
    metrics = task.evaluate(config, variables, staging, options)
    for name in sorted(os.listdir(staging)):
      source, target = os.path.join(staging, name), os.path.join(output_dir, name)
      if os.path.isdir(source):
        atomic_files.replace_directory(source, target)
      else:
        os.replace(source, target)
    if metrics:   # an unlabelled split has files to submit and no metrics.
      write_metrics(output_dir, metrics)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return metrics


def default_output_dir(config, options: EvalOptions, source: str,
                       workdir: str | None = None, task=None) -> str:
  task = task or tasks.get(config)
  return os.path.join(workdir or source, task.default_output_name(options))


def evaluate_checkpoint(config, source: str, *, step: int | None = None,
                        output_dir: str | None = None, workdir: str | None = None,
                        options: EvalOptions = EvalOptions()) -> tuple[dict, str]:
  """evaluate.py's path: `source` is a training workdir (`step`: default the
  latest checkpoint) or a converted-variables directory. Returns (metrics,
  the output directory)."""
  task = tasks.get(config)
  base.check_options(task, config, options)
  if step is not None and not os.path.isdir(
      os.path.join(source, checkpointing.CHECKPOINT_SUBDIR)):
    raise entry_point.UserError(
        f"--step={step}: {source} is a variables directory, not a training "
        "workdir with checkpoints/.")
  variables = checkpointing.load_variables_or_workdir(source, step)
  check_variables_fit(config, variables, source, task)
  output_dir = output_dir or default_output_dir(config, options, source,
                                                workdir, task)
  return evaluate(config, variables, output_dir, options, task), output_dir


def dump_raw_outputs(config, source: str, output: str, *, frames: str,
                     split: str | None = None, step: int | None = None) -> None:
  """evaluate.py --dump_frames: the task's raw outputs of some frames."""
  task = tasks.get(config)
  base.require(task, config, "dump_frames", "--dump_frames")
  task.dump_raw_outputs(config, source, output, frames=frames, split=split,
                        step=step)


def evaluate_in_training(config, state, workdir: str, step: int) -> dict:
  """Periodic evaluation from the train loop (metrics only).

  Every process scores the whole eval split (the same numbers, and no host
  waits in a collective for another's evaluation); only process 0 writes
  WORKDIR/eval/step_<step>/metrics.json.
  """
  task = tasks.get(config)
  variables = sharding.host_copy({"params": state.params,
                                  "batch_stats": state.batch_stats})
  output_dir = (os.path.join(workdir, "eval", f"step_{step}")
                if jax.process_index() == 0 else None)
  metrics = evaluate(config, variables, output_dir,
                     EvalOptions(in_training=True), task)
  logging.info("eval at step %d (%s):\n%s", step,
               f"written to {output_dir}" if output_dir else
               f"process {jax.process_index()}: scored, not written",
               task.format_table(metrics) if metrics else UNSCORED)
  return {k: v for k, v in metrics.items() if isinstance(v, float)}


def describe(config, metrics: dict, source: str, output_dir: str) -> str:
  """What evaluate.py prints (one line for a split without labels)."""
  table = tasks.get(config).format_table(metrics) if metrics else UNSCORED
  return f"\n{source}:\n{table}\nResults in {output_dir}"

