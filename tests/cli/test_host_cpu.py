"""cli/host_cpu: the default XLA:CPU options, added only where they apply."""
import os

from video_knet_jax.cli import host_cpu


def _cpuinfo(tmp_path, flags):
  path = tmp_path / "cpuinfo"
  path.write_text("processor\t: 0\nmodel name\t: Test CPU\n"
                  f"flags\t\t: fpu sse2 {flags}\n\nprocessor\t: 1\n")
  return str(path)


def test_vector_width_added_on_avx512_only(tmp_path, monkeypatch):
  monkeypatch.setenv("VIDEO_KNET_DEFAULT_XLA_FLAGS", "1")
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
  added = host_cpu.add_default_xla_flags(_cpuinfo(tmp_path, "avx2 avx512f"))
  assert added == ["--xla_cpu_prefer_vector_width=512"]
  assert os.environ["XLA_FLAGS"].split() == [
      "--xla_force_host_platform_device_count=1",
      "--xla_cpu_prefer_vector_width=512"]
  # Without AVX-512 (avx512bw alone is not avx512f), or without a cpuinfo.
  monkeypatch.setenv("XLA_FLAGS", "")
  assert host_cpu.add_default_xla_flags(_cpuinfo(tmp_path, "avx2 avx512bw")) == []
  assert host_cpu.add_default_xla_flags(str(tmp_path / "missing")) == []
  assert os.environ["XLA_FLAGS"] == ""


def test_user_choice_and_opt_out_win(tmp_path, monkeypatch):
  cpuinfo = _cpuinfo(tmp_path, "avx512f")
  monkeypatch.setenv("VIDEO_KNET_DEFAULT_XLA_FLAGS", "1")
  monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_prefer_vector_width=256")
  assert host_cpu.add_default_xla_flags(cpuinfo) == []
  assert os.environ["XLA_FLAGS"] == "--xla_cpu_prefer_vector_width=256"
  monkeypatch.setenv("XLA_FLAGS", "")
  monkeypatch.setenv("VIDEO_KNET_DEFAULT_XLA_FLAGS", "0")
  assert host_cpu.add_default_xla_flags(cpuinfo) == []


def test_setup_leaves_accelerator_runs_alone(monkeypatch):
  monkeypatch.setenv("JAX_PLATFORMS", "cuda")
  monkeypatch.setenv("VIDEO_KNET_DEFAULT_XLA_FLAGS", "1")
  monkeypatch.setenv("XLA_FLAGS", "")
  assert host_cpu.setup() == []
  assert os.environ["XLA_FLAGS"] == ""
