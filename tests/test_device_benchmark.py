"""The benchmarks run where the lent GPU runs them: no TensorFlow, TFDS, clu or pycocotools.

One virtual environment, built as tools/device_venv.py builds it (only the
device image's distributions plus the carried ml-collections, linked from this
interpreter in about a second), runs `python -m video_knet_jax.benchmark` and
`tools/device_benchmark.sh --tiny` on the CPU. XLA's backend optimisation is
off in these runs (`--xla_backend_optimization_level=0`: a third less compile
time; nothing here is timed), and the device script's train part compiles
what the benchmark run compiled before it (the persistent compilation cache
of tests/conftest.py), as does the compile-only run after it. The configs
have one kernel-update stage (the device script's --tiny form).
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))
import device_benchmark  # pylint: disable=g-import-not-at-top,wrong-import-position
import device_venv  # pylint: disable=g-import-not-at-top,wrong-import-position

FORBIDDEN = ("tensorflow", "tensorflow_datasets", "clu", "pycocotools")
# The device script's --tiny train part: R50 :debug at 64x128, one update stage.
_TINY_R50 = ["--config=configs/kitti_step.py:debug", "--config.model.num_stages=1",
             "--config.loss.stage_weights=(1.0,)", "--height=64", "--width=128", "--batch=1"]


@pytest.fixture(scope="module")
def device_env(tmp_path_factory):
  """(python of the device-like venv, environment for its processes)."""
  info = device_venv.build(str(tmp_path_factory.mktemp("device_venv") / "venv"))
  env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XLA_FLAGS")}
  env.update(JAX_PLATFORMS="cpu", PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2",
             XLA_FLAGS="--xla_backend_optimization_level=0")   # one CPU device.
  return info["python"], env


_BENCHMARK = textwrap.dedent("""
    import runpy, sys
    sys.argv = ["benchmark"] + sys.argv[1:]
    try:
      runpy.run_module("video_knet_jax.benchmark", run_name="__main__", alter_sys=True)
    except SystemExit as e:
      if e.code:
        raise
    # The other modes' modules (their runs import nothing else).
    import video_knet_jax.benchmark_inference, video_knet_jax.benchmark_parts
    print("IMPORTED", sorted({m.split(".")[0] for m in sys.modules}))
    # The environment holds the device's packages, and not these.
    import importlib
    absent = []
    for name in FORBIDDEN + ("av",):
      try:
        importlib.import_module(name)
      except ImportError:
        absent.append(name)
    print("ABSENT", absent)
""")


def test_benchmark_train_mode_runs_without_tensorflow(device_env):
  python, env = device_env
  script = f"FORBIDDEN = {FORBIDDEN!r}\n" + _BENCHMARK
  result = subprocess.run(
      [python, "-c", script, *_TINY_R50, "--steps=1"],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  figures = json.loads(next(l for l in result.stdout.splitlines() if l.startswith("{")))
  assert figures["step_s_median"] > 0 and np.isfinite(figures["loss"]), figures
  lines = {l.split(" ", 1)[0]: eval(l.split(" ", 1)[1])  # pylint: disable=eval-used
           for l in result.stdout.splitlines() if l.startswith(("IMPORTED", "ABSENT"))}
  assert {"jax", "flax", "optax", "ml_collections"} <= set(lines["IMPORTED"])
  assert not set(FORBIDDEN) & set(lines["IMPORTED"]), lines["IMPORTED"]
  assert lines["ABSENT"] == list(FORBIDDEN + ("av",))   # none on the device either.


_COMPILE_ONLY = textwrap.dedent("""
    import runpy, sys
    import jax, jax.numpy as jnp
    from video_knet_jax.tasks import panoptic
    under_trace = []
    make_optimizer = panoptic.make_optimizer
    def spy(config, params):
      under_trace.append(isinstance(jnp.zeros(()), jax.core.Tracer))
      return make_optimizer(config, params)
    panoptic.make_optimizer = spy
    sys.argv = ["benchmark"] + sys.argv[1:]
    try:
      runpy.run_module("video_knet_jax.benchmark", run_name="__main__", alter_sys=True)
    except SystemExit as e:
      if e.code:
        raise
    print("UNDER_TRACE", under_trace)
""")


def test_compile_only_benchmark_builds_the_optimizer_outside_any_trace(device_env):
  """--steps=0 compiles against the abstract state and reports XLA's memory
  figures; the optimizer the step closes over is built once, outside any
  trace (it was built inside jax.eval_shape, where a jnp constant it made
  would have leaked a tracer into the compiled step)."""
  python, env = device_env
  result = subprocess.run([python, "-c", _COMPILE_ONLY, *_TINY_R50, "--steps=0"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
                          check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  figures = json.loads(next(l for l in result.stdout.splitlines() if l.startswith("{")))
  assert figures["compile_s"] > 0 and figures["flops_per_step"] > 0, figures
  assert "loss" not in figures and "mem_total_gib" in figures, figures
  assert "UNDER_TRACE [False]" in result.stdout.splitlines(), result.stdout[-2000:]


def test_device_script_writes_every_part_and_survives_failing_ones(device_env, tmp_path):
  """Each kind of part at a tiny size, one that raises and one that hangs."""
  python, env = device_env
  out = tmp_path / "out"
  parts = ["r50_bf16_b1", "r50_online_bf16", "ytvis_r50_video_bf16", "swin_b_bf16_b1",
           "swin_l_bf16_b1"]
  result = subprocess.run(
      ["bash", "tools/device_benchmark.sh", "--tiny", "--parallel=2", f"--parts={','.join(parts)}",
       "--inject=swin_b_bf16_b1:fail,swin_l_bf16_b1:hang", "--part_timeouts=swin_l_bf16_b1:5",
       "--part_timeout_s=800", "--budget_s=1500"],
      # The venv holds ml-collections already: no carried wheels to install.
      cwd=REPO, env=dict(env, PYTHON=python, OUT=str(out), DEVICE_WHEELS=str(tmp_path)),
      capture_output=True, text=True,
      timeout=1800, check=False)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  report = json.loads((out / "device_benchmark.json").read_text())
  figures = report["parts"]
  assert list(figures) and set(figures) == set(parts)
  status = {name: f["status"] for name, f in figures.items()}
  assert status == {"r50_bf16_b1": "ok", "r50_online_bf16": "ok", "ytvis_r50_video_bf16": "ok",
                    "swin_b_bf16_b1": "error", "swin_l_bf16_b1": "timeout"}, figures
  assert "failure injected" in figures["swin_b_bf16_b1"]["error"]
  train, online, video = (figures[n] for n in parts[:3])
  assert train["step_s_median"] > 0 and np.isfinite(train["loss"]) and train["compile_s"] > 0
  assert train["frames_per_s"] == pytest.approx(2 * train["clips_per_s"], rel=0.01)  # key + ref.
  assert train["flops_per_step"] > 0 and train["batch"] == 1
  assert online["frames_per_s"] > 0 and online["frames_per_s_streamed"] > 0
  assert video["num_frames"] == 5 and video["frames_per_s"] > 0
  for f in (train, online, video):
    assert f["forbidden_modules"] == [] and f["platform"] == "cpu", f
  table = (out / "device_benchmark.md").read_text()
  assert "| r50_bf16_b1 | ok |" in table and "| swin_l_bf16_b1 | timeout |" in table
  assert (out / "device_info.txt").read_text().count("jax") >= 1


def test_a_spent_budget_starts_nothing_and_still_writes_the_json(tmp_path):
  status = device_benchmark.main([f"--out={tmp_path}", "--parts=r50_bf16_b1,r50_online_bf16",
                                  "--budget_s=1", "--min_part_s=5"])
  report = json.loads((tmp_path / "device_benchmark.json").read_text())
  assert status == 1
  assert {f["status"] for f in report["parts"].values()} == {"not_started"}


def test_parts_cover_the_issue_matrix_at_full_size():
  """R50 and Swin-B x {1, 2} clips x {bf16, fp32}, Swin-L with and without
  remat, online R50 / Swin-B, YouTube-VIS video; at 384x1248 (VIS: 360x640)."""
  train = {(p.config, p.clips_per_device, p.dtype, p.remat) for p in device_benchmark.PARTS
           if p.kind == "train"}
  for recipe in ("kitti_step.py", "kitti_step.py:swin_b"):
    assert {(recipe, b, d, False) for b in (1, 2) for d in ("bfloat16", "float32")} <= train
  assert {("kitti_step.py:swin_l", 1, "bfloat16", r) for r in (False, True)} <= train
  online = {p.config for p in device_benchmark.PARTS if p.kind == "online"}
  assert online == {"kitti_step.py", "kitti_step.py:swin_b"}
  swin_l = device_benchmark.part_config(device_benchmark.PARTS_BY_NAME["swin_l_bf16_b1_remat"],
                                        tiny=False)
  assert swin_l.model.backbone.remat and swin_l.model.backbone.embed_dims == 192
  assert tuple(swin_l.data.crop_size) == (384, 1248) and swin_l.model.dtype == "bfloat16"
  video = device_benchmark.part_config(device_benchmark.PARTS_BY_NAME["ytvis_r50_video_bf16"],
                                       tiny=False)
  assert tuple(video.data.test_size) == (360, 640)
