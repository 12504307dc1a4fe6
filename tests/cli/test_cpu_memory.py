"""cli/cpu_memory: a freed large block is reused without page faults."""
import os
import subprocess
import sys
import textwrap

import pytest

from video_knet_jax.cli import cpu_memory

# A fresh interpreter (this one's arenas already exist): a worker thread
# mallocs, writes and frees 256 MiB twice, as XLA:CPU's threads do each step
# (plain malloc: numpy asks for huge pages); prints whether the options were
# set and the minor page faults of the first and the second allocation.
_SCRIPT = textwrap.dedent("""
    import ctypes, resource, sys, threading
    from video_knet_jax.cli import cpu_memory
    applied = cpu_memory.keep_freed_memory() if sys.argv[1] == "1" else False
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = (ctypes.c_void_p,)
    size = 256 << 20
    faults = []
    def allocate_and_touch():
      before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
      block = libc.malloc(size)
      ctypes.memset(block, 1, size)
      faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
      libc.free(block)
    for _ in range(2):
      worker = threading.Thread(target=allocate_and_touch)
      worker.start(); worker.join()
    print(int(applied), faults[0], faults[1])
    """)


def _faults(keep: bool):
  env = dict(os.environ, VIDEO_KNET_KEEP_FREED_MEMORY="1")
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
  out = subprocess.run([sys.executable, "-c", _SCRIPT, "1" if keep else "0"],
                       capture_output=True, text=True, check=True, env=env)
  applied, first, second = (int(v) for v in out.stdout.split())
  return bool(applied), first, second


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_freed_block_is_reused_without_page_faults():
  pages = (256 << 20) // 4096
  # Default malloc: the block is mmapped afresh and faults in again.
  applied, first, second = _faults(keep=False)
  assert not applied and first > pages // 2 and second > pages // 2
  applied, first, second = _faults(keep=True)
  assert applied and first > pages // 2
  assert second < pages // 20, (first, second)


def test_opt_out_and_platform_choice(monkeypatch):
  monkeypatch.setenv("VIDEO_KNET_KEEP_FREED_MEMORY", "0")
  assert not cpu_memory.keep_freed_memory()
  monkeypatch.setenv("JAX_PLATFORMS", "cuda,cpu")
  assert not cpu_memory.runs_on_host_cpu()
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  assert cpu_memory.runs_on_host_cpu()
