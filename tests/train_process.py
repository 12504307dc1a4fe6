"""Runs train.py / evaluate.py as child processes and watches their logs."""
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child_env(num_devices: int = 1, **extra) -> dict:
  """The test environment (CPU, compile cache) with `num_devices` devices."""
  env = dict(os.environ)
  # The collective timeout as tests/conftest.py sets it (loaded CI machines).
  env["XLA_FLAGS"] = (f"--xla_force_host_platform_device_count={num_devices} "
                      "--xla_cpu_collective_call_terminate_timeout_seconds=600")
  env["JAX_PLATFORMS"] = "cpu"
  env.update({k: str(v) for k, v in extra.items()})
  return env


class Child:
  """A child process whose stderr lines are collected with arrival times."""

  def __init__(self, args, env=None):
    self.args = list(args)
    self.lines: list[tuple[float, str]] = []
    self.proc = subprocess.Popen(
        [sys.executable] + self.args, cwd=ROOT, env=env or child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, bufsize=1)
    self.exit_time = None
    self._reader = threading.Thread(target=self._read, daemon=True)
    self._reader.start()

  def _read(self):
    for line in self.proc.stdout:
      self.lines.append((time.monotonic(), line.rstrip("\n")))
    self.proc.wait()
    self.exit_time = time.monotonic()

  def first_time(self, text: str) -> float | None:
    """Arrival time of the first line containing `text` (None if none yet)."""
    for t, line in list(self.lines):
      if text in line:
        return t
    return None

  def wait_until(self, condition, timeout: float, poll: float = 0.002) -> bool:
    """Polls `condition()` until true or the child ends; returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      if condition():
        return True
      if self.proc.poll() is not None:
        return bool(condition())
      time.sleep(poll)
    raise TimeoutError(f"condition not met in {timeout} s:\n{self.log()}")

  def kill(self):
    self.proc.kill()   # SIGKILL: no handler, no cleanup, no flush.
    self.wait()

  def wait(self, timeout: float = 600) -> int:
    self.proc.wait(timeout)
    self._reader.join(timeout)
    return self.proc.returncode

  def log(self, last: int = 60) -> str:
    return "\n".join(line for _, line in self.lines[-last:])
