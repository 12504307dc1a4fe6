"""benchmark --compare: both variants run with the right flags, ratio of steps."""
import pytest

from video_knet_jax import benchmark


def test_compare_runs_base_then_variant_and_divides_step_times(monkeypatch):
  calls = []

  def fake_run(args, cwd=None):
    assert cwd is None
    calls.append(args)
    return {"step_s_median": 0.5 if len(calls) == 1 else 0.2}

  monkeypatch.setattr(benchmark, "_run_in_subprocess", fake_run)
  result = benchmark.compare(["--config=c.py", "--batch=2"], ["--batch=1"])
  assert calls == [["--config=c.py", "--batch=2"],
                   ["--config=c.py", "--batch=2", "--batch=1"]]
  assert result["variant_over_base_step_time"] == 0.4
  assert result["variant_flags"] == ["--batch=1"]


def test_a_failing_variant_names_its_command():
  with pytest.raises(RuntimeError, match="--no_such_flag"):
    benchmark._run_in_subprocess(["--no_such_flag"])


def test_rounds_alternate_and_a_baseline_checkout_runs_the_base(monkeypatch):
  calls = []
  step = {"/base": [0.30, 0.50, 0.40], None: [0.20, 0.10, 0.30]}

  def fake_run(args, cwd=None):
    calls.append(cwd)
    return {"step_s_median": step[cwd].pop(0), "cpu_s_per_step": 1.0 if cwd else 0.5}

  monkeypatch.setattr(benchmark, "_run_in_subprocess", fake_run)
  result = benchmark.compare(["--config=c.py"], [], rounds=3,
                             baseline_checkout="/base")
  assert calls == ["/base", None] * 3
  assert result["base"]["step_s_median"] == 0.4      # median of the rounds.
  assert result["variant"]["step_s_median"] == 0.2
  assert result["variant_over_base_step_time"] == 0.5
  assert result["variant_over_base_cpu_time"] == 0.5
  assert result["base"]["rounds"] == 3


def test_memory_figures_convert_xla_analysis_to_gib():
  class Analysis:   # what `compiled.memory_analysis()` returns (bytes).
    argument_size_in_bytes = 3 * 2**30
    output_size_in_bytes = 3 * 2**30
    alias_size_in_bytes = 2 * 2**30   # donated state reused for the output.
    temp_size_in_bytes = 2**29
    generated_code_size_in_bytes = 2**20

  class Compiled:
    def memory_analysis(self):
      return Analysis()

  figures = benchmark._memory_figures(Compiled())  # pylint: disable=protected-access
  assert figures["mem_argument_gib"] == 3.0 and figures["mem_temp_gib"] == 0.5
  assert figures["mem_total_gib"] == 3.0 + 3.0 - 2.0 + 0.5


def test_compare_of_inference_runs_divides_every_time_figure(monkeypatch):
  """--mode=inference results have no step time; compare still takes medians and ratios."""
  online = {"/base": [0.4, 0.6], None: [0.3, 0.2]}

  def fake_run(args, cwd=None):
    return {"online_frame_s_median": online[cwd].pop(0), "model_cpu_s_per_frame": 2.0 if cwd else 1.0}

  monkeypatch.setattr(benchmark, "_run_in_subprocess", fake_run)
  result = benchmark.compare(["--config=c.py", "--mode=inference"], [], rounds=2,
                             baseline_checkout="/base")
  assert result["base"]["online_frame_s_median"] == 0.5
  assert result["variant_over_base"] == {"online_frame_s_median": 0.5,
                                         "model_cpu_s_per_frame": 0.5}
  assert "variant_over_base_step_time" not in result


def test_side_by_side_runs_every_mode_at_every_size_and_tabulates_ratios():
  from video_knet_jax import benchmark_side_by_side as side  # pylint: disable=g-import-not-at-top
  calls = []

  def fake_run(args):
    calls.append(args)
    mode = next(a for a in args if a.startswith("--mode=")).split("=")[1]
    if mode == "train":
      return {"step_s_median": 2.0, "cpu_s_per_step": 3.0, "torch_step_s_median": 4.0,
              "torch_cpu_s_per_step": 6.0, "step_over_torch": 0.5, "cpu_over_torch": 0.5}
    if mode == "parts":
      return {p: {"s_median": 0.1, "cpu_s": 0.2} for p in side.PARTS}
    return {"online_frame_s_median": 0.5, "torch_online_frame_s_median": 1.0,
            "online_frame_over_torch": 0.5, "online_frames_per_s_over_torch": 2.0,
            "model_frame_s_median": 0.3, "torch_frame_s_median": 0.4,
            "model_frame_over_torch": 0.75, "fwd_bwd_s_median": 1.0,
            "torch_fwd_bwd_s_median": 1.0, "fwd_bwd_over_torch": 1.0}

  result = side.run_side_by_side(fake_run, ["--config=c.py"], "c.py",
                                 side.parse_sizes("64x96,32x48"), steps=2,
                                 predict_frames=0,
                                 machine={"cpu": "x", "cores": 2,
                                          "load_avg_1m": 1.0})
  assert [next(a for a in c if a.startswith("--mode=")) for c in calls] == [
      "--mode=train", "--mode=parts", "--mode=inference"] * 2
  assert all("--torch_reference" in c for c in calls if "--mode=parts" not in c)
  assert "--height=32" in calls[3] and "--width=48" in calls[3]
  assert list(result["sizes"]) == ["64x96", "32x48"]
  text = side.markdown(result, "python -m video_knet_jax.benchmark --mode=side_by_side")
  assert "CPU: " in text and "| 64x96 | train step, wall s (median) | 2.0 | 4.0 | 0.5 |" in text
  assert "2.0 (frames/s ratio)" in text
  with pytest.raises(ValueError, match="HEIGHTxWIDTH"):
    side.parse_sizes("64x")


def test_alternate_interleaves_the_sides_round_by_round():
  """Side-by-side timings: one warm-up each, then the sides take turns."""
  import time  # pylint: disable=g-import-not-at-top
  from video_knet_jax import benchmark_torch  # pylint: disable=g-import-not-at-top
  calls = []
  figures = benchmark_torch.alternate(
      {"project": lambda: calls.append("project"),
       "torch": lambda: (calls.append("torch"), time.sleep(0.02))}, steps=3)
  assert calls == ["project", "torch"] * 4
  assert figures["torch"]["s_min"] >= 0.02 > figures["project"]["s_median"]
  assert set(figures["project"]) == {"s_median", "s_min", "cpu_s"}
