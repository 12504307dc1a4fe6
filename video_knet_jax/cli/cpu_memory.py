"""Keeps freed memory in the process, so XLA:CPU reuses its pages each step.

XLA:CPU allocates every execution's temporary buffer (0.79 GiB for the R50
train step at 192x640, 2.8 GiB at 384x1248) with malloc from its own
threads. glibc serves such a block with mmap and returns it with munmap, so
every step maps it afresh and takes a page fault per 4 KiB page it touches:
220K faults and 0.37-0.40 s of kernel CPU time per 192x640 step on a
2-core machine, ~15 % of the step's CPU time (docs/BENCHMARKS.md, "Session
16"). With one malloc arena (the brk heap), no mmap and no trimming, the
freed block stays mapped and the next step reuses it: no faults.

Hand-written because glibc's malloc options are set either in the
environment before Python starts (MALLOC_ARENA_MAX and friends) or with
`mallopt`, which no library we use exposes; they must be set before JAX
creates its CPU client, whose threads keep the arenas they first used.
Applied by `host_cpu.setup()` only where the computation runs on the host
CPU (no GPU or TPU plugin selected or installed) and the C library is
glibc; the process then keeps its peak memory instead of returning it to
the system.
Set VIDEO_KNET_KEEP_FREED_MEMORY=0 to leave malloc as it is.
"""
import ctypes
import importlib.util
import os
import sys

# glibc <malloc.h> parameter numbers.
_M_TRIM_THRESHOLD = -1   # -1: never give the heap's top back to the system.
_M_MMAP_MAX = -4         # 0: never serve a request with mmap.
_M_ARENA_MAX = -8        # 1: every thread allocates from the main arena.

_ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin",
                        "jax_rocm60_plugin", "jax_rocm7_plugin", "libtpu")


def runs_on_host_cpu() -> bool:
  """Whether JAX will pick its CPU backend, judged without starting it
  (JAX_PLATFORMS, else no accelerator plugin installed)."""
  platforms = os.environ.get("JAX_PLATFORMS", "").strip()
  if platforms:
    return platforms.split(",")[0].strip() == "cpu"
  return not any(importlib.util.find_spec(name) is not None
                 for name in _ACCELERATOR_PLUGINS)


def keep_freed_memory() -> bool:
  """Sets glibc's malloc to keep and reuse freed blocks (module doc).

  Returns True when the options were set; False where they do not apply
  (not Linux, not glibc, opted out). Call before JAX starts its backend.
  """
  if os.environ.get("VIDEO_KNET_KEEP_FREED_MEMORY", "1") == "0":
    return False
  if not sys.platform.startswith("linux"):
    return False
  try:
    libc = ctypes.CDLL("libc.so.6")
    mallopt = libc.mallopt
    libc.gnu_get_libc_version  # glibc only (musl has neither option).
  except (OSError, AttributeError):
    return False
  mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
  mallopt.restype = ctypes.c_int
  return all(mallopt(param, value) == 1 for param, value in (
      (_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, -1)))

