"""Process settings for JAX on the host CPU, made before JAX starts.

Where the computation runs on the host CPU (no GPU or TPU plugin selected or
installed), the entry points (train.py, evaluate.py, predict, the benchmark)
call `setup()` first. It
  * keeps freed memory in the process (`cpu_memory`: no page faults on each
    step's temporary buffer), and
  * adds XLA:CPU options that measured faster (`DEFAULT_XLA_FLAGS`) to
    XLA_FLAGS, each only where the CPU has what it needs and the user has
    not named that option in XLA_FLAGS already.

`--xla_cpu_prefer_vector_width=512` (CPUs with AVX-512): XLA emits its own
loop fusions, the elementwise and reduction work between the library GEMMs
and convolutions, with 512-bit instead of 256-bit vectors. R50 KITTI-STEP
train step on a 2-core AVX-512 EPYC, alternating rounds: 0.931x at 192x640
(3 rounds x 7 steps) and 0.96x in an earlier session; neutral at 384x1248
(docs/BENCHMARKS.md, "Session 18"). Sums in those fusions may round
differently (the step's loss moved in the 7th digit).
Set VIDEO_KNET_DEFAULT_XLA_FLAGS=0 to add none.
"""
import os
from typing import List

from video_knet_jax.cli import cpu_memory

# (option, value, /proc/cpuinfo flag the CPU needs or None).
DEFAULT_XLA_FLAGS = (
    ("--xla_cpu_prefer_vector_width", "512", "avx512f"),
)


def _cpu_flags(cpuinfo: str) -> set:
  """The feature flags of the first processor listed in /proc/cpuinfo."""
  try:
    with open(cpuinfo) as f:
      for line in f:
        if line.startswith("flags"):
          return set(line.split(":", 1)[1].split())
  except OSError:
    pass
  return set()


def add_default_xla_flags(cpuinfo: str = "/proc/cpuinfo") -> List[str]:
  """Appends the applicable `DEFAULT_XLA_FLAGS` to XLA_FLAGS; returns them.

  An option already in XLA_FLAGS (any value) is left as given; nothing is
  added with VIDEO_KNET_DEFAULT_XLA_FLAGS=0.
  """
  if os.environ.get("VIDEO_KNET_DEFAULT_XLA_FLAGS", "1") == "0":
    return []
  current = os.environ.get("XLA_FLAGS", "")
  named = {flag.split("=", 1)[0] for flag in current.split()}
  cpu = _cpu_flags(cpuinfo)
  added = [f"{name}={value}" for name, value, needs in DEFAULT_XLA_FLAGS
           if name not in named and (needs is None or needs in cpu)]
  if added:
    os.environ["XLA_FLAGS"] = " ".join([current] + added).strip()
  return added


def setup() -> List[str]:
  """Both settings of the module doc where JAX will run on the host CPU;
  returns what was set, for the log ([] elsewhere)."""
  if not cpu_memory.runs_on_host_cpu():
    return []
  done = ["malloc keeps freed memory (cli/cpu_memory.py)"] if (
      cpu_memory.keep_freed_memory()) else []
  return done + add_default_xla_flags()
