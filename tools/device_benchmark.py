#!/usr/bin/env python3
r"""Every accelerator figure of docs/BENCHMARKS.md in one short run.

  python3 tools/device_benchmark.py --out=DIR            # on the GPU (bash tools/device_benchmark.sh)
  python3 tools/device_benchmark.py --out=DIR --tiny     # the same parts, tiny, on a CPU (CI)

Parts, most important first (`PARTS`): the jitted train step of the R50 and
Swin-B KITTI-STEP recipes at 384x1248 with 1 and 2 clips per device in bf16
and fp32, and Swin-L with and without remat (step time, clips/s, MFU against
the device's dense bf16 peak, peak device memory, compile time); online
inference at 384x1248 (model + merge + tracker, `VideoPredictor`'s one jitted
frame) of R50 and Swin-B; YouTube-VIS whole-video inference (R50 KNetTrack,
one 36-frame video at the 360x640 test size, as evaluation runs it, without
the host-side RLE encoding).

Each part runs in its own process under its own time limit, so one that
fails, runs out of memory or hangs costs only its own figures. Up to
`--parallel` parts are in flight: they build and compile at the same time
(XLA's compile runs on the host's cores) but take turns on the accelerator
for warm-up and timing (a file lock), so timed steps never overlap. Nothing
new starts once fewer than `--min_part_s` seconds of `--budget_s` remain, and
parts still running at the deadline are stopped. After every part the whole
result is rewritten to DIR/device_benchmark.json (so an interrupted run keeps
what it measured); the log of every part's stderr goes to
DIR/device_benchmark.log and the table, printed last, to
DIR/device_benchmark.md.

`--part_timeouts=NAME:S,...` sets some parts' limits apart; `--inject=NAME:fail`
or `NAME:hang` makes a part raise or hang, to test the degradation (CI).

Steps are the ones training and prediction run, built from the task registry
(`train.build_train_step`: the task's model, loss and optimizer;
`VideoPredictor.frame_fn`; the instance evaluation's whole-video predictor),
on random inputs of the real shapes (each task's `random_train_batch`). Needs
jax, flax, optax, orbax-checkpoint, chex, numpy, absl-py, pillow and
ml-collections; never TensorFlow, TFDS, clu or pycocotools (each part reports
any of them it finds imported).
"""
import argparse
import contextlib
import dataclasses
import fcntl
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORBIDDEN_MODULES = ("tensorflow", "tensorflow_datasets", "clu", "pycocotools")
RESULT_JSON, LOG, TABLE = "device_benchmark.json", "device_benchmark.log", "device_benchmark.md"


@dataclasses.dataclass(frozen=True)
class Part:
  name: str
  kind: str                 # 'train', 'online' (VideoPredictor frame) or 'vis_video'.
  config: str               # configs/<file>[:arg]; ':debug' is added with --tiny.
  dtype: str                # config.model.dtype.
  clips_per_device: int = 1
  remat: bool = False       # Swin blocks rematerialised in the backward pass.


PARTS = (
    Part("r50_bf16_b1", "train", "kitti_step.py", "bfloat16"),
    Part("swin_b_bf16_b1", "train", "kitti_step.py:swin_b", "bfloat16"),
    Part("r50_online_bf16", "online", "kitti_step.py", "bfloat16"),
    Part("swin_b_online_bf16", "online", "kitti_step.py:swin_b", "bfloat16"),
    Part("ytvis_r50_video_bf16", "vis_video", "youtube_vis.py", "bfloat16"),
    Part("r50_fp32_b1", "train", "kitti_step.py", "float32"),
    Part("swin_b_fp32_b1", "train", "kitti_step.py:swin_b", "float32"),
    Part("swin_l_bf16_b1", "train", "kitti_step.py:swin_l", "bfloat16"),
    Part("swin_l_bf16_b1_remat", "train", "kitti_step.py:swin_l", "bfloat16", remat=True),
    Part("r50_bf16_b2", "train", "kitti_step.py", "bfloat16", 2),
    Part("swin_b_bf16_b2", "train", "kitti_step.py:swin_b", "bfloat16", 2),
    Part("r50_fp32_b2", "train", "kitti_step.py", "float32", 2),
    Part("swin_b_fp32_b2", "train", "kitti_step.py:swin_b", "float32", 2),
)
PARTS_BY_NAME = {p.name: p for p in PARTS}


@dataclasses.dataclass(frozen=True)
class Sizes:
  """Input sizes and repeat counts: the real ones, or --tiny's."""
  height: int = 384          # KITTI-STEP training crop / eval canvas.
  width: int = 1248
  vis_test_size: tuple = (360, 640)   # YouTube-VIS config.data.test_size.
  vis_frames: int = 36
  train_steps: int = 10      # timed train steps after one warm-up.
  online_frames: int = 30    # timed frames after one warm-up.
  vis_repeats: int = 3       # timed whole-video passes after the first.


TINY = Sizes(height=64, width=128, vis_test_size=(64, 96), vis_frames=5, train_steps=2,
             online_frames=3, vis_repeats=1)


def part_config(part: Part, tiny: bool):
  """The part's config: the recipe, its dtype, remat and input sizes."""
  sys.path.insert(0, REPO)
  from video_knet_jax import api  # pylint: disable=g-import-not-at-top
  from video_knet_jax import random_batch  # pylint: disable=g-import-not-at-top
  path, _, arg = part.config.partition(":")
  if tiny:
    arg = ",".join(a for a in (arg, "debug") if a)
  config = api.load_config(os.path.join(REPO, "configs", path) + (f":{arg}" if arg else ""))
  sizes = TINY if tiny else Sizes()
  # XLA:CPU compiles bf16 steps several times slower: --tiny runs float32,
  # with one kernel-update stage (the others repeat its program).
  config.model.dtype = "float32" if tiny else part.dtype
  if tiny:
    config.model.num_stages = 1
    config.loss.stage_weights = (1.0,)
  if part.remat:
    config.model.backbone.remat = True
  if part.kind == "vis_video":
    config.data.test_size = tuple(sizes.vis_test_size)
    if tiny:
      config.inference.frame_bucket = 4
  else:
    random_batch.configure_without_data(config, sizes.height, sizes.width)
  return config


# =============================================================================
# A part, in its own process.
# =============================================================================
@contextlib.contextmanager
def accelerator_turn(lock_path: str, figures: dict):
  """Holds the accelerator (an exclusive lock on `lock_path`) for timing."""
  start = time.perf_counter()
  with open(lock_path, "a") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    figures["lock_wait_s"] = round(time.perf_counter() - start, 2)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


def _device_figures() -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  return {"device": device.device_kind, "platform": device.platform,
          "num_devices": jax.device_count(), "jax_version": jax.__version__,
          # None: XLA's default (TF32 allowed for float32 matmuls on GPUs).
          "default_matmul_precision": jax.config.jax_default_matmul_precision}


def _flops(lowered, compiled) -> float:
  """XLA's FLOP count of the compiled program (of the lowered one where the
  backend gives none)."""
  for stage in (compiled, lowered):
    try:
      cost = stage.cost_analysis()
    except Exception:  # pylint: disable=broad-except  (backend without it)
      continue
    if isinstance(cost, (list, tuple)):
      cost = cost[0] if cost else {}
    flops = float((cost or {}).get("flops", 0.0))
    if flops > 0:
      return flops
  return float("nan")


def _rates(figures: dict, flops: float, seconds: float, devices: int) -> None:
  """Adds TFLOP/s and MFU against the device's dense bf16 peak."""
  from video_knet_jax import benchmark  # pylint: disable=g-import-not-at-top
  figures["tflops_per_s"] = round(flops / seconds / 1e12, 3)
  peak = benchmark.PEAK_FLOPS.get(figures["device"], {}).get("bfloat16")
  if peak:
    figures["peak_bf16_tflops"] = peak / 1e12
    figures["mfu_vs_bf16_peak"] = round(flops / seconds / (peak * devices), 4)


def _memory(figures: dict) -> None:
  """Peak device memory since the process started (None on CPU)."""
  import jax  # pylint: disable=g-import-not-at-top
  stats = jax.devices()[0].memory_stats() or {}
  gib = lambda key: round(stats[key] / 2**30, 3) if key in stats else None
  figures["peak_device_gib"] = gib("peak_bytes_in_use")
  figures["device_limit_gib"] = gib("bytes_limit")


def _timed(fn, repeats: int) -> list[float]:
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return times


def train_part(part: Part, config, sizes: Sizes, lock_path: str) -> dict:
  """Train step: compile, then (on the accelerator's turn) warm up and time."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from video_knet_jax import benchmark  # pylint: disable=g-import-not-at-top
  from video_knet_jax import sharding  # pylint: disable=g-import-not-at-top
  from video_knet_jax import train  # pylint: disable=g-import-not-at-top
  figures = _device_figures()
  devices = figures["num_devices"]
  batch = part.clips_per_device * devices
  config.train.batch_size = batch
  mesh = sharding.make_mesh(config.mesh)
  built = train.build_train_step(config, mesh)
  device_batch = sharding.put_batch(built.task.random_train_batch(config, batch), mesh)
  start = time.perf_counter()   # against the abstract state, as `benchmark --steps=0`.
  lowered = built.step.lower(built.state.abstract, device_batch)
  figures["lower_s"] = round(time.perf_counter() - start, 2)
  start = time.perf_counter()
  compiled = lowered.compile()
  figures["compile_s"] = round(time.perf_counter() - start, 2)
  start = time.perf_counter()
  state = jax.block_until_ready(built.state.init(jax.random.key(0)))
  figures["init_s"] = round(time.perf_counter() - start, 2)
  flops = _flops(lowered, compiled)
  figures.update(benchmark._memory_figures(compiled))  # pylint: disable=protected-access
  with accelerator_turn(lock_path, figures):
    state, measurements = compiled(state, device_batch)          # warm-up.
    jax.block_until_ready(measurements)

    def one_step():
      nonlocal state, measurements
      state, measurements = compiled(state, device_batch)
      jax.block_until_ready(measurements)
    times = _timed(one_step, sizes.train_steps)
    _memory(figures)
  median = statistics.median(times)
  frames_per_clip = int(device_batch["image"].shape[1])
  figures.update({
      "height": sizes.height, "width": sizes.width, "clips_per_device": part.clips_per_device,
      "batch": batch, "remat": part.remat, "timed_steps": len(times),
      "step_s_median": round(median, 4), "step_s_min": round(min(times), 4),
      "clips_per_s": round(batch / median, 3),
      "frames_per_s": round(batch * frames_per_clip / median, 3),
      "flops_per_step": flops, "loss": float(np.asarray(measurements["loss"]))})
  _rates(figures, flops, median, devices)
  return figures


def online_part(part: Part, config, sizes: Sizes, lock_path: str) -> dict:
  """VideoPredictor's jitted frame (model + linking + merge + tracker)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from video_knet_jax import random_batch  # pylint: disable=g-import-not-at-top
  from video_knet_jax import tasks  # pylint: disable=g-import-not-at-top
  from video_knet_jax.inference import predictor as predictor_lib  # pylint: disable=g-import-not-at-top
  figures = _device_figures()
  task = tasks.get(config)
  model = task.build_model(config)
  # Random weights of the model's shapes: compiling the init costs more than
  # the frame (timing does not depend on the values).
  variables = random_batch.random_variables(jax.eval_shape(
      lambda r: task.init_variables(model, config, r), jax.random.key(0)))
  predictor = predictor_lib.VideoPredictor(model, variables, config)
  padded_hw = (sizes.height, sizes.width)
  _, image, _, kernels, _, _ = predictor.frame_arguments(padded_hw)
  rng = np.random.default_rng(0)
  # A steady-state frame: previous kernels given, the tracker past frame 0.
  image = jnp.asarray(rng.normal(size=image.shape), jnp.float32)
  image_hw = jnp.asarray(padded_hw, jnp.int32)
  kernels = jnp.asarray(0.1 * rng.normal(size=kernels.shape), kernels.dtype)
  tracker, index = predictor.init_tracker_state(padded_hw), jnp.asarray(1, jnp.int32)
  start = time.perf_counter()
  lowered = predictor.frame_fn.lower(variables, image, image_hw, kernels, tracker, index)
  compiled = lowered.compile()
  figures["compile_s"] = round(time.perf_counter() - start, 2)
  flops = _flops(lowered, compiled)
  with accelerator_turn(lock_path, figures):
    carried = [kernels, tracker, index]

    def one_frame(fetch: bool):
      semantic, ids, carried[0], carried[1], _ = compiled(variables, image, image_hw, *carried)
      carried[2] = carried[2] + 1
      return (np.asarray(semantic), np.asarray(ids)) if fetch else jax.block_until_ready(ids)
    one_frame(True)                                               # warm-up.
    latency = _timed(lambda: one_frame(False), sizes.online_frames)
    # As VideoPredictor runs a video: frame t+1 dispatched before frame t's
    # maps are fetched to the host.
    start = time.perf_counter()
    pending = None
    for _ in range(sizes.online_frames):
      semantic, ids, carried[0], carried[1], _ = compiled(variables, image, image_hw, *carried)
      carried[2] = carried[2] + 1
      if pending is not None:
        np.asarray(pending[0]), np.asarray(pending[1])
      pending = (semantic, ids)
    np.asarray(pending[0]), np.asarray(pending[1])
    streamed = time.perf_counter() - start
    _memory(figures)
  median = statistics.median(latency)
  figures.update({
      "height": sizes.height, "width": sizes.width, "timed_frames": sizes.online_frames,
      "frame_s_median": round(median, 4), "frame_s_min": round(min(latency), 4),
      "frames_per_s": round(1.0 / median, 3),
      "frames_per_s_streamed": round(sizes.online_frames / streamed, 3),
      "flops_per_frame": flops})
  _rates(figures, flops, median, 1)
  return figures


def vis_video_part(part: Part, config, sizes: Sizes, lock_path: str) -> dict:
  """KNetTrack whole-video inference (the scores and mask logits of every
  frame back on the host, as YouTube-VIS evaluation gets them)."""
  del part
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from video_knet_jax import random_batch  # pylint: disable=g-import-not-at-top
  from video_knet_jax import shapes  # pylint: disable=g-import-not-at-top
  from video_knet_jax import tasks  # pylint: disable=g-import-not-at-top
  from video_knet_jax.inference import vis_inference  # pylint: disable=g-import-not-at-top
  figures = _device_figures()
  task = tasks.get(config)
  model = task.build_model(config)
  variables = random_batch.random_variables(jax.eval_shape(   # as online_part.
      lambda r: task.init_variables(model, config, r), jax.random.key(0)))
  # Whole-video inference as the instance evaluation runs it (instance_eval).
  predict = vis_inference.make_predict_fn(model, int(config.inference.get("frame_chunk", 0)))
  t = sizes.vis_frames
  padded = shapes.round_up(tuple(config.data.test_size), config.data.size_divisor)
  frames = np.random.default_rng(0).normal(size=(t, *padded, 3)).astype(np.float32)
  load = lambda a, b: frames[a:b]
  bucket = int(config.inference.frame_bucket)

  def video():
    return [m.shape for _, _, m in predict(variables, load, t, bucket)]
  with accelerator_turn(lock_path, figures):
    start = time.perf_counter()
    video()                                      # compiles the frame part and every pass.
    first = time.perf_counter() - start
    times = _timed(video, sizes.vis_repeats)
    _memory(figures)
  median = statistics.median(times)
  figures.update({
      "test_size": list(config.data.test_size), "padded_size": list(padded),
      "num_frames": t, "chunk_frames": -(-t // bucket) * bucket,
      "first_video_s_incl_compile": round(first, 3), "video_s_median": round(median, 4),
      "frames_per_s": round(t / median, 3)})
  return figures


KINDS = {"train": train_part, "online": online_part, "vis_video": vis_video_part}


def run_part(name: str, tiny: bool, lock_path: str, inject: str = "") -> dict:
  """One part in this process; returns its figures."""
  if inject == "fail":
    raise RuntimeError(f"{name}: failure injected (--inject) to test the degradation.")
  if inject == "hang":
    time.sleep(3600)
  part = PARTS_BY_NAME[name]
  config = part_config(part, tiny)
  import jax  # pylint: disable=g-import-not-at-top
  if not tiny and jax.default_backend() == "cpu":
    raise RuntimeError("JAX found no accelerator (default backend 'cpu'); --tiny is the "
                       "CPU form of this benchmark.")
  figures = {"config": part.config, "dtype": str(config.model.dtype), "kind": part.kind}
  figures.update(KINDS[part.kind](part, config, TINY if tiny else Sizes(), lock_path))
  figures["forbidden_modules"] = sorted(
      m for m in sys.modules if m.split(".")[0] in FORBIDDEN_MODULES)
  return figures


# =============================================================================
# The driver: parts in separate processes, a budget, the JSON after each.
# =============================================================================
@dataclasses.dataclass
class _Running:
  name: str
  process: subprocess.Popen
  started: float
  deadline: float
  output: tempfile.TemporaryFile      # the part's stdout (its JSON line)
  errors: tempfile.TemporaryFile      # and stderr: files, so no pipe can fill up.


def _write_atomic(path: str, text: str) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)


def _children_cpu_s() -> float:
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  return usage.ru_utime + usage.ru_stime


def _finish(running: _Running, status: str, result: dict, log, cpu_s: float = 0.0) -> dict:
  before = _children_cpu_s()
  running.process.wait()
  cpu_s += _children_cpu_s() - before
  out, err = (_read(f) for f in (running.output, running.errors))
  lines = [l for l in out.splitlines() if l.startswith("{")]
  figures = {"status": status, "wall_s": round(time.monotonic() - running.started, 1),
             "cpu_s": round(cpu_s, 1)}
  if status == "done":
    if running.process.returncode == 0 and lines:
      figures.update(json.loads(lines[-1]))
      figures["status"] = "ok"
    else:
      figures["status"] = "error"
      figures["error"] = (err.strip().splitlines() or ["(no output)"])[-1][-500:]
      figures["returncode"] = running.process.returncode
  if status != "done":
    figures["error"] = f"{status} after {figures['wall_s']} s (no result)"
  log.write(f"===== {running.name}: {figures['status']} after {figures['wall_s']} s\n{err}\n")
  log.flush()
  result["parts"][running.name] = figures
  return figures


def _read(f) -> str:
  f.seek(0)
  text = f.read().decode("utf-8", "replace")
  f.close()
  return text


def _stop(process: subprocess.Popen) -> None:
  """Stops a part's process group (it started its own session)."""
  try:
    os.killpg(process.pid, signal.SIGKILL)
  except ProcessLookupError:
    pass


class _Terminated(Exception):
  """SIGTERM: stop the parts (their own sessions outlive this process)."""


def _raise_terminated(signum, frame):
  del signum, frame
  raise _Terminated()


def run_all(names, out_dir: str, *, tiny: bool, budget_s: float, part_timeout_s: float,
            min_part_s: float, parallel: int, inject: dict,
            part_timeouts: dict | None = None) -> dict:
  """Runs the parts (at most `parallel` at once); returns and writes the result.

  A part's time limit is `part_timeouts[name]` or `part_timeout_s`, and never
  past the budget's end."""
  part_timeouts = part_timeouts or {}
  os.makedirs(out_dir, exist_ok=True)
  start = time.monotonic()
  deadline = start + budget_s
  result = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "tiny": tiny,
            "budget_s": budget_s, "part_timeout_s": part_timeout_s, "parallel": parallel,
            "command": " ".join(sys.argv), "parts": {}}
  json_path = os.path.join(out_dir, RESULT_JSON)
  lock_path = os.path.join(tempfile.mkdtemp(prefix="device_benchmark_"), "accelerator.lock")
  env = dict(os.environ, PYTHONUNBUFFERED="1",
             # Several parts share the device while they compile: no process
             # takes 75% of its memory up front.
             XLA_PYTHON_CLIENT_PREALLOCATE="false")
  env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH", "")) if p)
  queue, running = list(names), []
  previous_handler = signal.signal(signal.SIGTERM, _raise_terminated)
  log = open(os.path.join(out_dir, LOG), "w")
  try:
    while queue or running:
      now = time.monotonic()
      while queue and len(running) < parallel and deadline - now >= min_part_s:
        name = queue.pop(0)
        cmd = [sys.executable, os.path.abspath(__file__), f"--part={name}", f"--lock={lock_path}"]
        cmd += ["--tiny"] if tiny else []
        cmd += [f"--inject={name}:{inject[name]}"] if name in inject else []
        output, errors = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        process = subprocess.Popen(cmd, stdout=output, stderr=errors, env=env, cwd=REPO,
                                   start_new_session=True)
        limit = part_timeouts.get(name, part_timeout_s)
        running.append(_Running(name, process, now, min(now + limit, deadline), output, errors))
        print(f"[{now - start:6.1f} s] {name}: started", flush=True)
      if not running:
        break
      time.sleep(0.2)
      for r in list(running):
        now = time.monotonic()
        before = _children_cpu_s()     # poll() reaps one part: the CPU time it used.
        if r.process.poll() is not None:
          status = "done"
        elif now >= r.deadline:
          _stop(r.process)
          status = "timeout" if r.deadline < deadline else "stopped_at_budget"
        else:
          continue
        running.remove(r)
        figures = _finish(r, status, result, log, cpu_s=_children_cpu_s() - before)
        print(f"[{now - start:6.1f} s] {r.name}: {figures['status']} ({figures['wall_s']} s)"
              + (f" {figures.get('error', '')}" if figures["status"] != "ok" else ""),
              flush=True)
        _write_atomic(json_path, json.dumps(result, indent=1))
  except (_Terminated, KeyboardInterrupt):
    print("terminated: stopping the running parts", flush=True)
    for r in running:
      _stop(r.process)
      _finish(r, "terminated", result, log)
  finally:
    signal.signal(signal.SIGTERM, previous_handler)
    log.close()
  for name in queue:
    result["parts"][name] = {"status": "not_started", "error": "budget spent"}
  result["wall_s"] = round(time.monotonic() - start, 1)
  _write_atomic(json_path, json.dumps(result, indent=1))
  table = format_table(result)
  _write_atomic(os.path.join(out_dir, TABLE), table)
  print(table, flush=True)
  return result


def format_table(result: dict) -> str:
  """A markdown table of every part's main figures, in PARTS order."""
  parts = sorted(result["parts"].items(),
                 key=lambda kv: [p.name for p in PARTS].index(kv[0]))
  ok = [f for _, f in parts if f.get("status") == "ok"]
  device = ok[0]["device"] if ok else "?"
  lines = [f"Device: {device}; parts ok: {len(ok)} of {len(parts)}; "
           f"wall {result.get('wall_s', '?')} s", "",
           "| part | status | dtype | compile (s) | time (s) | rate | MFU (bf16 peak) "
           "| peak memory (GiB) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
  show = lambda v: "" if v is None else v
  for name, f in parts:
    kind = f.get("kind")
    if kind == "train":
      time_s, rate = f.get("step_s_median"), f"{f.get('clips_per_s')} clips/s"
    elif kind in ("online", "vis_video"):
      time_s = f.get("frame_s_median", f.get("video_s_median"))
      rate = f"{f.get('frames_per_s')} frames/s"
    else:
      time_s, rate = None, f.get("error", "")
    compile_s = f.get("compile_s", f.get("first_video_s_incl_compile"))
    lines.append(f"| {name} | {f.get('status')} | {show(f.get('dtype'))} | {show(compile_s)} "
                 f"| {show(time_s)} | {rate} | {show(f.get('mfu_vs_bf16_peak'))} "
                 f"| {show(f.get('peak_device_gib'))} |")
  return "\n".join(lines) + "\n"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--out", default=os.environ.get("OUT", os.path.join(REPO, "out")),
                      help="Output directory (default $OUT).")
  parser.add_argument("--tiny", action="store_true", help="Tiny configs and sizes (CPU, CI).")
  parser.add_argument("--parts", default="", help="Comma-separated part names (default all).")
  parser.add_argument("--budget_s", type=float, default=450.0,
                      help="Seconds for all parts together.")
  parser.add_argument("--part_timeout_s", type=float, default=240.0,
                      help="Seconds for one part.")
  parser.add_argument("--part_timeouts", default="",
                      help="Per-part limits overriding --part_timeout_s: NAME:SECONDS,...")
  parser.add_argument("--min_part_s", type=float, default=60.0,
                      help="No part starts with less of the budget left.")
  parser.add_argument("--parallel", type=int, default=3,
                      help="Parts in flight (compiling) at once; timing takes turns.")
  parser.add_argument("--inject", default="",
                      help="Testing the degradation: NAME:fail or NAME:hang, comma-separated.")
  parser.add_argument("--part", default="", help=argparse.SUPPRESS)   # a part's own process.
  parser.add_argument("--lock", default="", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  inject = dict(item.split(":", 1) for item in args.inject.split(",") if item)
  if args.part:
    sys.path.insert(0, REPO)
    print(json.dumps(run_part(args.part, args.tiny, args.lock, inject.get(args.part, ""))))
    return 0
  names = [n for n in args.parts.split(",") if n] or [p.name for p in PARTS]
  unknown = sorted(set(names) - set(PARTS_BY_NAME))
  if unknown:
    parser.error(f"--parts: unknown {unknown}; known: {[p.name for p in PARTS]}")
  result = run_all(names, args.out, tiny=args.tiny, budget_s=args.budget_s,
                   part_timeout_s=args.part_timeout_s, min_part_s=args.min_part_s,
                   parallel=args.parallel, inject=inject,
                   part_timeouts={n: float(t) for n, t in (
                       item.split(":", 1) for item in args.part_timeouts.split(",") if item)})
  return 0 if any(f.get("status") == "ok" for f in result["parts"].values()) else 1


if __name__ == "__main__":
  sys.exit(main())
