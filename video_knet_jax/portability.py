"""Lowering a jitted step for GPU and TPU from any machine, and what would stop it running there.

`jax.export` lowers for platforms other than the one it runs on (the CUDA and
TPU lowering rules ship with jax itself), so a CPU-only machine can prove that
a step's program is one an accelerator runs: `lower_for_accelerators` lowers
it for ('cuda', 'tpu') at once and raises `NotPortableError` when

  - a primitive has no lowering for a platform, or the program calls back into
    Python on the host (`jax.pure_callback`, `io_callback`, `jax.debug.print`:
    jax.export refuses to serialize these);
  - the lowered StableHLO has a CPU-only custom call (LAPACK and other XLA:CPU
    kernels), a host transfer (send/recv, infeed/outfeed) or 64-bit floats
    (float64/complex128: emulated on TPU, slow on GPU).

A sharded step (explicit `in_shardings` over a mesh of N devices) lowers to
one global program for N devices with Shardy sharding annotations: the SPMD
partitioner that inserts the collectives runs when the target compiles it, so
lowering proves the shardings are consistent, not what the collectives cost.
"""
import re
from typing import Any, NamedTuple, Sequence

from jax import export

ACCELERATORS = ("cuda", "tpu")
# Custom-call targets that exist only in XLA:CPU.
_CPU_ONLY_TARGET = re.compile(r"^(lapack_|ducc_|xla_(ffi_)?python_cpu_callback|cpu_)")
_HOST_TRANSFERS = ("stablehlo.send", "stablehlo.recv", "stablehlo.infeed", "stablehlo.outfeed")
_FLOAT64 = re.compile(r"[<x](f64|complex<f64>)>")


class NotPortableError(ValueError):
  """The step cannot run as lowered on every requested platform."""


class Lowering(NamedTuple):
  exported: export.Exported
  text: str              # exported.mlir_module(): the StableHLO (megabytes to print).


def custom_call_targets(text: str) -> list[str]:
  """The distinct custom-call targets of a lowered program's text
  (`exported.mlir_module()`), sorted."""
  return sorted(set(re.findall(r"custom_call @([\w.$-]+)", text))
                | set(re.findall(r'call_target_name = "([^"]+)"', text)))


def non_portable_constructs(exported: export.Exported, text: str = "") -> list[str]:
  """What in the lowered program needs a CPU host: [] when nothing does.
  `text`: `exported.mlir_module()`, if already at hand (megabytes to print)."""
  text = text or exported.mlir_module()
  found = [f"CPU-only custom call {t}" for t in custom_call_targets(text)
           if _CPU_ONLY_TARGET.match(t)]
  found += [f"host transfer {op}" for op in _HOST_TRANSFERS if op in text]
  float64 = _FLOAT64.findall(text)
  if float64:
    found.append(f"64-bit floats ({len(float64)} values typed f64/complex<f64>)")
  effects = tuple(exported.ordered_effects) + tuple(exported.unordered_effects)
  if effects:
    found.append(f"side effects {effects}")
  return found


def lower_for_accelerators(jitted: Any, *args, platforms: Sequence[str] = ACCELERATORS
                           ) -> Lowering:
  """`jax.export` of `jitted(*args)` for `platforms` (and its text); raises
  NotPortableError naming what would not run there. `args` may be
  ShapeDtypeStructs."""
  name = getattr(jitted, "__name__", repr(jitted))
  try:
    exported = export.export(jitted, platforms=tuple(platforms))(*args)
  except (NotImplementedError, TypeError) as e:
    # Missing lowering rules and host callbacks surface here (jax 0.10: the
    # latter as NotImplementedError, or TypeError for jax.debug callbacks).
    raise NotPortableError(f"{name} does not lower for {tuple(platforms)}: "
                           f"{type(e).__name__}: {e}") from e
  text = exported.mlir_module()
  found = non_portable_constructs(exported, text)
  if found:
    raise NotPortableError(f"{name} lowered for {tuple(platforms)} has {'; '.join(found)}.")
  return Lowering(exported, text)
