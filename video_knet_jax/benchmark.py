r"""Train-step speed of any task's config (config.task): one JSON line of figures.

  python -m video_knet_jax.benchmark --config=configs/kitti_step.py \
      --height=384 --width=1248 --batch=1 --steps=5

Prints compile time, median (and min) step time over repeated steps (with
`config.data.targets_on_device` the step also builds the targets), the
process CPU time per step (all threads; steadier than wall time on a shared
machine), frames per second
(key + reference frames), FLOPs per step from XLA's cost analysis and, where
the device's peak is known, MFU. Random inputs of the real shapes (no input
pipeline). With --markdown=docs/BENCHMARKS.md the figures are appended there
with this command.

Side by side: `--compare="--batch=2 --config.loss.mask_assign_stride=4"`
runs the benchmark twice in fresh processes, as given and with those extra
flags appended (so process-level settings such as `--xla_flags` can differ
between the two), and prints both results with the ratio of their step times.
`--baseline_checkout=DIR` runs the base from another checkout of this
repository instead (e.g. `git worktree add /tmp/base HEAD~1`), to time a code
change; `--rounds=N` alternates base and variant N times and compares the
medians, which evens out other load on a shared machine.

Modes (`--mode`): 'train' (above); 'parts' times the step's parts as
separate jitted functions (`benchmark_parts`: backbone/neck, heads, losses,
matching, optimizer); 'inference' times online per-frame inference
(`benchmark_inference`), and with `--torch_reference` the test-only PyTorch
re-implementation on the same input in the same run, printing the ratios.
`--profile_dir=DIR` writes a `jax.profiler` trace of the timed train steps
(open it in TensorBoard's profile plugin or ui.perfetto.dev).
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
_STEPS = flags.DEFINE_integer(
    "steps", 5, "Timed steps after compilation (0: compile only, memory figures).")
_MARKDOWN = flags.DEFINE_string("markdown", "", "Append a row to this file.")
_XLA_FLAGS = flags.DEFINE_string(
    "xla_flags", "", "Appended to XLA_FLAGS before JAX starts, e.g. "
    "'--xla_cpu_experimental_ynn_fusion_type=' (XLA:CPU without YNNPACK).")
_COMPARE = flags.DEFINE_string(
    "compare", "", "Extra flags of a second variant to time side by side.")
_BASELINE_CHECKOUT = flags.DEFINE_string(
    "baseline_checkout", "", "Compare mode: run the base variant from this "
    "checkout of the repository (the variant runs from this one).")
_MODE = flags.DEFINE_enum(
    "mode", "train", ["train", "parts", "inference", "input_bytes",
                      "side_by_side"],
    "What to time: the train step, its parts, or online inference; "
    "input_bytes: host-to-device bytes of one step's batch, host-built "
    "targets vs compact labels (config.data.targets_on_device); side_by_side:"
    " train, parts, inference and predict at every --sizes, next to the "
    "PyTorch original (benchmark_side_by_side).")
_SIZES = flags.DEFINE_string(
    "sizes", "192x640,384x1248", "side_by_side: comma-separated HxW sizes.")
_PREDICT_FRAMES = flags.DEFINE_integer(
    "predict_frames", 12, "side_by_side: frames of the generated video that "
    "predict runs on (0: skip predict).")
_PROFILE_DIR = flags.DEFINE_string(
    "profile_dir", "", "Train mode: write a profiler trace of the timed "
    "steps here.")
_TORCH_REFERENCE = flags.DEFINE_bool(
    "torch_reference", False, "Train and inference modes: also time the "
    "PyTorch reference of tests/convert/torch_reference (run from the repo "
    "root; see benchmark_torch).")
_ROUNDS = flags.DEFINE_integer(
    "rounds", 1, "Compare mode: alternate base and variant this many times.")

# Dense bf16/fp32 peak FLOP/s per device, for MFU (vendor figures).
PEAK_FLOPS = {
    "NVIDIA H100 80GB HBM3": {"bfloat16": 989e12, "float32": 67e12},
    "NVIDIA H200": {"bfloat16": 989e12, "float32": 67e12},
    "TPU v4": {"bfloat16": 275e12, "float32": 275e12},
    "TPU v5 lite": {"bfloat16": 197e12, "float32": 197e12},
}


def machine() -> dict:
  """CPU model, visible cores and the 1-minute load average (shared machines)."""
  cpu = ""
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next((l.split(":", 1)[1].strip() for l in f
                  if l.startswith("model name")), "")
  except OSError:
    pass
  import platform  # pylint: disable=g-import-not-at-top
  return {"cpu": cpu or platform.processor() or platform.machine(),
          "cores": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}


def run(config, height: int, width: int, batch: int, steps: int,
        profile_dir: str = "", torch_reference: bool = False) -> dict:
  """Compiles and times the train step (and the PyTorch one); returns the figures."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from video_knet_jax import common  # pylint: disable=g-import-not-at-top
  from video_knet_jax import random_batch  # pylint: disable=g-import-not-at-top
  from video_knet_jax import sharding  # pylint: disable=g-import-not-at-top
  from video_knet_jax import train  # pylint: disable=g-import-not-at-top
  from video_knet_jax.models import video_knet  # pylint: disable=g-import-not-at-top

  config.train.batch_size = batch
  random_batch.configure_without_data(config, height, width)
  mesh = sharding.make_mesh(config.mesh)
  sharding.check_batch_size(batch, mesh)
  built = train.build_train_step(config, mesh)
  host_batch = built.task.random_train_batch(config, batch)
  device_batch = sharding.put_batch(host_batch, mesh)

  # Compiled against the abstract state (--steps=0 never initialises it).
  start = time.perf_counter()
  compiled = built.step.lower(built.state.abstract, device_batch).compile()
  compile_s = time.perf_counter() - start
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else {}
  flops = float((cost or {}).get("flops", float("nan")))
  memory = _memory_figures(compiled)
  if steps == 0:   # --steps=0: compile only, report XLA's memory figures.
    return {"device": jax.devices()[0].device_kind, "num_devices": jax.device_count(),
            "height": height, "width": width, "batch": batch,
            "dtype": jnp.dtype(video_knet.compute_dtype(config.model)).name,
            "compile_s": round(compile_s, 2), "flops_per_step": flops, **memory}

  current = {"state": built.state.init(jax.random.key(0))}

  def project_step():
    current["state"], current["measurements"] = compiled(current["state"],
                                                         device_batch)
    jax.block_until_ready(current["measurements"])

  if torch_reference:
    # Both sides in alternating rounds in this process (load from elsewhere
    # falls on both alike).
    from video_knet_jax import benchmark_torch  # pylint: disable=g-import-not-at-top
    # The PyTorch side builds no targets: it gets them on the host.
    full_batch = random_batch.random_clip_batch(config, batch, height, width)
    torch_step, torch_info = benchmark_torch.train_step(config, full_batch)
    timings = benchmark_torch.alternate(
        {"project": project_step, "torch": torch_step}, steps)
    torch_figures = benchmark_torch.train_step_figures(timings["torch"],
                                                       torch_info)
    times = [timings["project"]["s_median"], timings["project"]["s_min"]]
    cpu_per_step = timings["project"]["cpu_s"]
  else:
    project_step()  # Warm-up.
    times = []
    if profile_dir:
      jax.profiler.start_trace(profile_dir)
    cpu_start = time.process_time()
    for _ in range(steps):
      start = time.perf_counter()
      project_step()
      times.append(time.perf_counter() - start)
    if profile_dir:
      jax.profiler.stop_trace()
    cpu_per_step = (time.process_time() - cpu_start) / steps
  measurements = current["measurements"]
  median = timings["project"]["s_median"] if torch_reference else (
      statistics.median(times))
  frames = int(np.prod(host_batch[common.IMAGE].shape[:2]))   # B x T.
  device = jax.devices()[0]
  dtype = jnp.dtype(video_knet.compute_dtype(config.model)).name   # "auto" resolved.
  peak = PEAK_FLOPS.get(device.device_kind, {}).get(dtype)
  result = {
      "device": device.device_kind, "num_devices": jax.device_count(),
      "height": height, "width": width, "batch": batch, "dtype": dtype,
      "compile_s": round(compile_s, 2), "step_s_median": round(median, 4),
      "step_s_min": round(min(times), 4),
      "cpu_s_per_step": round(cpu_per_step, 4),
      "frames_per_s": round(frames / median, 3),
      "flops_per_step": flops,
      "tflops_per_s": round(flops / median / 1e12, 3),
      "loss": float(measurements["loss"]),
  }
  result.update(memory)
  if peak:
    result["mfu"] = round(flops / median / (peak * jax.device_count()), 4)
  if torch_reference:
    result.update(torch_figures)
    result["step_over_torch"] = round(
        median / result["torch_step_s_median"], 3)
    result["cpu_over_torch"] = round(
        cpu_per_step / result["torch_cpu_s_per_step"], 3)
    result["timing"] = "project and PyTorch steps in alternating rounds"
  return result


def _memory_figures(compiled) -> dict:
  """`compiled.memory_analysis()` in GiB (per device; None where the backend has none)."""
  try:
    analysis = compiled.memory_analysis()
  except Exception:  # pylint: disable=broad-except  (not every backend implements it)
    return {}
  if analysis is None:
    return {}
  gib = lambda n: round(float(n) / 2**30, 3)
  fields = ("argument_size_in_bytes", "output_size_in_bytes", "alias_size_in_bytes",
            "temp_size_in_bytes", "generated_code_size_in_bytes")
  out = {f"mem_{f.replace('_size_in_bytes', '')}_gib": gib(getattr(analysis, f, 0))
         for f in fields}
  # Live at once: arguments + outputs not aliased to (donated) arguments + temporaries.
  out["mem_total_gib"] = round(out["mem_argument_gib"] + out["mem_output_gib"]
                               - out["mem_alias_gib"] + out["mem_temp_gib"], 3)
  return out
def input_bytes(config, height: int, width: int, batch: int) -> dict:
  """Bytes per step the input pipeline hands the devices, both ways."""
  from video_knet_jax.datasets.kitti_step import facts  # pylint: disable=g-import-not-at-top
  from video_knet_jax import random_batch  # pylint: disable=g-import-not-at-top
  host = random_batch.random_clip_batch(config, batch, height, width)
  compact = random_batch.compact_labels(host, facts.PANOPTIC_DIVISOR)
  nbytes = lambda b: int(sum(v.nbytes for v in b.values()))
  return {"height": height, "width": width, "batch": batch,
          "max_instances": int(config.data.max_instances),
          "num_stuff": int(config.model.num_stuff_classes),
          "host_targets_bytes": nbytes(host),
          "compact_labels_bytes": nbytes(compact),
          "ratio": round(nbytes(host) / nbytes(compact), 2),
          "per_key_host": {k: int(v.nbytes) for k, v in host.items()}}


def _run_in_subprocess(args, cwd: str | None = None) -> dict:
  """One benchmark in a fresh process (run from `cwd`); returns its JSON result."""
  cmd = [sys.executable, "-m", "video_knet_jax.benchmark"] + args
  proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                        cwd=cwd)
  lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
  if proc.returncode or not lines:
    where = f" (in {cwd})" if cwd else ""
    raise RuntimeError(f"benchmark variant failed{where}: {shlex.join(cmd)}\n"
                       f"{proc.stderr[-3000:]}")
  return json.loads(lines[-1])


# Time figures of every mode (train, inference) that compare takes medians and
# ratios of: a run's seconds or CPU seconds per step / frame.
_TIME_KEYS = ("step_s_median", "step_s_min", "cpu_s_per_step",
              "online_frame_s_median", "online_cpu_s_per_frame",
              "model_frame_s_median", "model_cpu_s_per_frame",
              "fwd_bwd_s_median", "fwd_bwd_cpu_s")


def _summary(results: list[dict]) -> dict:
  """The first run's figures with the medians over all rounds."""
  out = dict(results[0])
  for key in _TIME_KEYS:
    values = [r[key] for r in results if key in r]
    if values:
      out[key] = round(statistics.median(values), 4)
  out["rounds"] = len(results)
  return out


def compare(base_args, extra_args, *, rounds: int = 1,
            baseline_checkout: str = "") -> dict:
  """Times base and variant alternately `rounds` times; step-time ratios.

  The base runs from `baseline_checkout` when given (with the same flags as
  the variant), else from this checkout without `extra_args`.
  """
  base_runs, variant_runs = [], []
  for _ in range(rounds):
    base_runs.append(_run_in_subprocess(
        base_args, cwd=baseline_checkout or None))
    variant_runs.append(_run_in_subprocess(base_args + extra_args))
  base, variant = _summary(base_runs), _summary(variant_runs)
  result = {"base": base, "variant": variant, "variant_flags": extra_args}
  if "step_s_median" in base and "step_s_median" in variant:
    result["variant_over_base_step_time"] = round(
        variant["step_s_median"] / base["step_s_median"], 3)
  # Other modes (inference): the ratio of every time figure both runs have.
  result["variant_over_base"] = {
      key: round(variant[key] / base[key], 3) for key in _TIME_KEYS
      if key in base and key in variant and base[key]}
  if baseline_checkout:
    result["baseline_checkout"] = baseline_checkout
  if "cpu_s_per_step" in base and "cpu_s_per_step" in variant:
    result["variant_over_base_cpu_time"] = round(
        variant["cpu_s_per_step"] / base["cpu_s_per_step"], 3)
  return result


def main(argv):
  del argv
  # The side-by-side and compare modes time in subprocesses, which make
  # these settings themselves.
  if not (_MODE.value == "side_by_side" or _COMPARE.value
          or _BASELINE_CHECKOUT.value):
    if _XLA_FLAGS.value:  # JAX has not created its backends yet.
      os.environ["XLA_FLAGS"] = " ".join(
          [os.environ.get("XLA_FLAGS", ""), _XLA_FLAGS.value]).strip()
    # Before JAX starts (both sides of --torch_reference run with it); after
    # --xla_flags, whose options it leaves as given.
    from video_knet_jax.cli import host_cpu  # pylint: disable=g-import-not-at-top
    host_cpu.setup()
  if _MODE.value == "side_by_side":
    from video_knet_jax import benchmark_side_by_side as side  # pylint: disable=g-import-not-at-top
    base_args = [a for a in sys.argv[1:] if not a.startswith(
        ("--mode", "--sizes", "--markdown", "--height", "--width", "--steps",
         "--batch", "--torch_reference", "--predict_frames"))]
    config_arg = next(a.split("=", 1)[1] for a in sys.argv[1:]
                      if a.startswith("--config="))
    result = side.run_side_by_side(
        _run_in_subprocess, base_args, config_arg, side.parse_sizes(_SIZES.value),
        _STEPS.value, _PREDICT_FRAMES.value, machine())
    print(json.dumps(result))
    print(side.table(result))
    if _MARKDOWN.value:
      command = "python -m video_knet_jax.benchmark " + shlex.join(sys.argv[1:])
      with open(_MARKDOWN.value, "a") as f:
        f.write(side.markdown(result, command))
    return
  if _COMPARE.value or _BASELINE_CHECKOUT.value:
    if _BASELINE_CHECKOUT.value and not os.path.isfile(os.path.join(
        _BASELINE_CHECKOUT.value, "video_knet_jax", "benchmark.py")):
      raise ValueError(f"--baseline_checkout={_BASELINE_CHECKOUT.value!r} is "
                       "not a checkout of this repository.")
    base_args = [a for a in sys.argv[1:] if not a.startswith(
        ("--compare", "--markdown", "--baseline_checkout", "--rounds"))]
    result = compare(base_args, shlex.split(_COMPARE.value),
                     rounds=_ROUNDS.value,
                     baseline_checkout=_BASELINE_CHECKOUT.value)
  else:
    if _MODE.value == "parts":
      from video_knet_jax import benchmark_parts  # pylint: disable=g-import-not-at-top
      result = benchmark_parts.run_parts(_CONFIG.value, _HEIGHT.value,
                                         _WIDTH.value, _BATCH.value,
                                         _STEPS.value)
    elif _MODE.value == "inference":
      import jax  # pylint: disable=g-import-not-at-top
      from video_knet_jax import benchmark_inference  # pylint: disable=g-import-not-at-top
      dtype = str(_CONFIG.value.model.get("dtype", "float32"))
      peak = PEAK_FLOPS.get(jax.devices()[0].device_kind, {}).get(dtype)
      result = benchmark_inference.run_inference(
          _CONFIG.value, _HEIGHT.value, _WIDTH.value, _STEPS.value,
          torch_reference=_TORCH_REFERENCE.value, peak_flops=peak)
    elif _MODE.value == "input_bytes":
      result = input_bytes(_CONFIG.value, _HEIGHT.value, _WIDTH.value,
                           _BATCH.value)
    else:
      result = run(_CONFIG.value, _HEIGHT.value, _WIDTH.value, _BATCH.value,
                   _STEPS.value, profile_dir=_PROFILE_DIR.value,
                   torch_reference=_TORCH_REFERENCE.value)
    result["xla_flags"] = os.environ.get("XLA_FLAGS", "")
    result["machine"] = machine()
  print(json.dumps(result))
  if _MARKDOWN.value:
    command = "python -m video_knet_jax.benchmark " + shlex.join(sys.argv[1:])
    with open(_MARKDOWN.value, "a") as f:
      f.write(f"\n`{command}`\n\n```json\n{json.dumps(result)}\n```\n")


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main)
