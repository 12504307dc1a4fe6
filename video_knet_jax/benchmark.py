r"""Train-step speed of Video K-Net: one JSON line of figures.

  python -m video_knet_jax.benchmark --config=configs/kitti_step.py \
      --height=384 --width=1248 --batch=1 --steps=5

Prints compile time, median step time over repeated steps, frames per second
(key + reference frames), FLOPs per step from XLA's cost analysis and, where
the device's peak is known, MFU. Random inputs of the real shapes (no input
pipeline). With --markdown=docs/BENCHMARKS.md the figures are appended there
with this command.

Side by side: `--compare="--batch=2 --config.loss.mask_assign_stride=4"`
runs the benchmark twice in fresh processes, as given and with those extra
flags appended (so process-level settings such as `--xla_flags` can differ
between the two), and prints both results with the ratio of their step times.
"""
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Model config.")
_HEIGHT = flags.DEFINE_integer("height", 384, "Padded input height.")
_WIDTH = flags.DEFINE_integer("width", 1248, "Padded input width.")
_BATCH = flags.DEFINE_integer("batch", 1, "Global clips per step.")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed steps after compilation.")
_MARKDOWN = flags.DEFINE_string("markdown", "", "Append a row to this file.")
_XLA_FLAGS = flags.DEFINE_string(
    "xla_flags", "", "Appended to XLA_FLAGS before JAX starts, e.g. "
    "'--xla_cpu_experimental_ynn_fusion_type=' (XLA:CPU without YNNPACK).")
_COMPARE = flags.DEFINE_string(
    "compare", "", "Extra flags of a second variant to time side by side.")

# Dense bf16/fp32 peak FLOP/s per device, for MFU (vendor figures).
PEAK_FLOPS = {
    "NVIDIA H100 80GB HBM3": {"bfloat16": 989e12, "float32": 67e12},
    "NVIDIA H200": {"bfloat16": 989e12, "float32": 67e12},
    "TPU v4": {"bfloat16": 275e12, "float32": 275e12},
    "TPU v5 lite": {"bfloat16": 197e12, "float32": 197e12},
}


def run(config, height: int, width: int, batch: int, steps: int) -> dict:
  """Compiles and times the train step; returns the figures."""
  import jax  # pylint: disable=g-import-not-at-top
  from video_knet_jax import random_batch  # pylint: disable=g-import-not-at-top
  from video_knet_jax import sharding  # pylint: disable=g-import-not-at-top
  from video_knet_jax import train_lib  # pylint: disable=g-import-not-at-top
  from video_knet_jax.models import video_knet  # pylint: disable=g-import-not-at-top

  config.data.crop_size = (height, width)
  config.train.batch_size = batch
  mesh = sharding.make_mesh(config.mesh)
  sharding.check_batch_size(batch, mesh)
  model = video_knet.build_model(config)
  state, tx, state_sharding = train_lib.create_train_state(
      config, model, mesh, jax.random.key(0))
  step_fn = train_lib.jit_train_step(
      train_lib.make_train_step(config, model, tx), state_sharding, mesh)
  host_batch = random_batch.random_clip_batch(config, batch, height, width)
  device_batch = sharding.put_batch(host_batch, mesh)

  start = time.perf_counter()
  compiled = step_fn.lower(state, device_batch).compile()
  compile_s = time.perf_counter() - start
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else {}
  flops = float((cost or {}).get("flops", float("nan")))

  state, measurements = compiled(state, device_batch)  # Warm-up.
  jax.block_until_ready(measurements)
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    state, measurements = compiled(state, device_batch)
    jax.block_until_ready(measurements)
    times.append(time.perf_counter() - start)
  median = statistics.median(times)
  frames = batch * (1 + config.data.num_refs)
  device = jax.devices()[0]
  dtype = str(config.model.get("dtype", "float32"))
  peak = PEAK_FLOPS.get(device.device_kind, {}).get(dtype)
  result = {
      "device": device.device_kind, "num_devices": jax.device_count(),
      "height": height, "width": width, "batch": batch, "dtype": dtype,
      "compile_s": round(compile_s, 2), "step_s_median": round(median, 4),
      "frames_per_s": round(frames / median, 3),
      "flops_per_step": flops,
      "tflops_per_s": round(flops / median / 1e12, 3),
      "loss": float(measurements["loss"]),
  }
  if peak:
    result["mfu"] = round(flops / median / (peak * jax.device_count()), 4)
  return result


def _run_in_subprocess(args) -> dict:
  """One benchmark in a fresh process; returns its JSON result."""
  cmd = [sys.executable, "-m", "video_knet_jax.benchmark"] + args
  proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
  lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
  if proc.returncode or not lines:
    raise RuntimeError(f"benchmark variant failed: {shlex.join(cmd)}\n"
                       f"{proc.stderr[-3000:]}")
  return json.loads(lines[-1])


def compare(base_args, extra_args) -> dict:
  """Times the base and the variant one after the other; step-time ratio."""
  base = _run_in_subprocess(base_args)
  variant = _run_in_subprocess(base_args + extra_args)
  return {"base": base, "variant": variant, "variant_flags": extra_args,
          "variant_over_base_step_time": round(
              variant["step_s_median"] / base["step_s_median"], 3)}


def main(argv):
  del argv
  if _COMPARE.value:
    base_args = [a for a in sys.argv[1:]
                 if not a.startswith(("--compare", "--markdown"))]
    result = compare(base_args, shlex.split(_COMPARE.value))
  else:
    if _XLA_FLAGS.value:  # JAX has not created its backends yet.
      os.environ["XLA_FLAGS"] = " ".join(
          [os.environ.get("XLA_FLAGS", ""), _XLA_FLAGS.value]).strip()
    result = run(_CONFIG.value, _HEIGHT.value, _WIDTH.value, _BATCH.value,
                 _STEPS.value)
    result["xla_flags"] = os.environ.get("XLA_FLAGS", "")
  print(json.dumps(result))
  if _MARKDOWN.value:
    command = "python -m video_knet_jax.benchmark " + shlex.join(sys.argv[1:])
    with open(_MARKDOWN.value, "a") as f:
      f.write(f"\n`{command}`\n\n```json\n{json.dumps(result)}\n```\n")


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main)
