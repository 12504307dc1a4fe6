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
