r"""Multi-scale deformable attention: the gather form vs the one-hot/matmul form.

  python -m video_knet_jax.benchmark_deform_attn --height=512 --width=928 --rounds=3

Times one `MultiScaleDeformableAttention` call of the deformable pixel decoder
(256 dims, 8 heads, 3 levels (strides 8, 16, 32), 4 points; projections
included, same in both forms) on random inputs of one `--height` x `--width`
frame, forward and forward + backward (gradients w.r.t. the query and the
parameters), for each sampling form (models/ms_deform_attn.py). The forms are
compiled once and timed in alternating rounds (gather, one_hot, gather, ...),
so load from other users of a shared machine hits both alike; each round is
the median of `--calls` calls. Prints one JSON line per (form, pass) with
XLA's FLOP and byte counts (`cost_analysis` of the call compiled without
query chunks, whose loop body XLA would count once; compiled, never run), and
the machine's 1-minute
load average before and after; `--markdown=FILE` appends a table.
"""
import json
import os
import platform
import statistics
import sys
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from video_knet_jax.models import ms_deform_attn
from video_knet_jax.models import msdeform_pixel_decoder

_HEIGHT = flags.DEFINE_integer("height", 512, "Padded frame height (VIS training canvas).")
_WIDTH = flags.DEFINE_integer("width", 928, "Padded frame width.")
_BATCH = flags.DEFINE_integer("batch", 1, "Frames per call.")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Alternating timing rounds.")
_CALLS = flags.DEFINE_integer("calls", 3, "Timed calls per round (median).")
_METHODS = flags.DEFINE_list("methods", list(ms_deform_attn.METHODS), "Forms to time.")
_PASSES = flags.DEFINE_list("passes", ["fwd", "fwd_bwd"], "fwd and/or fwd_bwd.")
_MARKDOWN = flags.DEFINE_string("markdown", "", "Append the table to this file.")

EMBED, HEADS, LEVELS, POINTS = 256, 8, 3, 4


def _setup(height: int, width: int, batch: int):
  """Spatial shapes of strides 8, 16, 32 (C3..C5), random query and offsets."""
  shapes = tuple((-(-height // s), -(-width // s)) for s in (32, 16, 8))
  q = sum(h * w for h, w in shapes)
  rng = np.random.RandomState(0)
  query = jnp.asarray(rng.randn(batch, q, EMBED), jnp.float32)
  pos = jnp.asarray(rng.randn(1, q, EMBED), jnp.float32)
  ref = msdeform_pixel_decoder.reference_points(shapes)
  ref = jnp.broadcast_to(jnp.asarray(ref)[None, :, None], (1, q, LEVELS, 2))
  return shapes, query, pos, ref


def _functions(method: str, shapes, query, pos, ref,
               query_chunk: int = ms_deform_attn.ONE_HOT_QUERY_CHUNK):
  module = ms_deform_attn.MultiScaleDeformableAttention(EMBED, HEADS, LEVELS, POINTS,
                                                        method=method, query_chunk=query_chunk)
  params = module.init(jax.random.key(0), query, ref, shapes, query_pos=pos)["params"]
  # Trained-like weights: offsets and attention logits depend on the query.
  keys = jax.random.split(jax.random.key(1), 2)
  for key, name, scale in zip(keys, ("sampling_offsets", "attention_weights"), (0.05, 0.1)):
    params[name]["kernel"] = scale * jax.random.normal(key, params[name]["kernel"].shape)
  apply = lambda p, x: module.apply({"params": p}, x, ref, shapes, query_pos=pos)
  loss = lambda p, x: jnp.sum(apply(p, x) ** 2)
  return params, {"fwd": apply, "fwd_bwd": jax.grad(loss, argnums=(0, 1))}


def _cost(compiled) -> dict:
  """XLA's counts (of the unchunked computation: a loop body would count once)."""
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else {}
  return {"gflop": round(float(cost.get("flops", float("nan"))) / 1e9, 3),
          "gbytes_accessed": round(float(cost.get("bytes accessed", float("nan"))) / 1e9, 3)}


def run(height: int, width: int, batch: int, rounds: int, calls: int,
        methods, passes) -> list[dict]:
  shapes, query, pos, ref = _setup(height, width, batch)
  compiled, records = {}, {}
  for method in methods:
    params, fns = _functions(method, shapes, query, pos, ref)
    for name in passes:
      start = time.perf_counter()
      c = jax.jit(fns[name]).lower(params, query).compile()
      compile_s = time.perf_counter() - start
      jax.block_until_ready(c(params, query))           # warm-up.
      compiled[(method, name)] = (c, params)
      whole = _functions(method, shapes, query, pos, ref, query_chunk=query.shape[1])[1]
      records[(method, name)] = {"method": method, "pass": name, "frames": batch,
                                 "size": f"{height}x{width}",
                                 "queries": sum(h * w for h, w in shapes),
                                 "compile_s": round(compile_s, 2),
                                 **_cost(jax.jit(whole[name]).lower(params, query).compile()),
                                 "round_s": [], "round_cpu_s": []}
  load_before = os.getloadavg()[0]
  for _ in range(rounds):
    for key, (c, params) in compiled.items():
      times, cpu = [], time.process_time()
      for _ in range(calls):
        start = time.perf_counter()
        jax.block_until_ready(c(params, query))
        times.append(time.perf_counter() - start)
      records[key]["round_s"].append(round(statistics.median(times), 4))
      records[key]["round_cpu_s"].append(round((time.process_time() - cpu) / calls, 4))
  load_after = os.getloadavg()[0]
  out = []
  for rec in records.values():
    rec["s_median"] = round(statistics.median(rec["round_s"]), 4)
    rec["cpu_s_median"] = round(statistics.median(rec["round_cpu_s"]), 4)
    rec["load_average_1min"] = [round(load_before, 2), round(load_after, 2)]
    out.append(rec)
  return out


def markdown(records: list[dict], command: str) -> str:
  rows = ["| form | pass | frames x size | queries | s/call (median of rounds) | "
          "CPU s/call | rounds (s) | GFLOP (XLA) | GB accessed (XLA) | compile (s) |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  for r in records:
    rows.append(f"| {r['method']} | {r['pass']} | {r['frames']} x {r['size']} | "
                f"{r['queries']} | {r['s_median']} | {r['cpu_s_median']} | "
                f"{', '.join(str(x) for x in r['round_s'])} | {r['gflop']} | "
                f"{r['gbytes_accessed']} | {r['compile_s']} |")
  load = records[0]["load_average_1min"]
  return (f"Command: `{command}`\n\n" + "\n".join(rows) + "\n\n"
          f"Machine: {platform.machine()}, {os.cpu_count()} cores visible, jax "
          f"{jax.__version__} on {jax.default_backend()}; 1-min load average before/after "
          f"the timed rounds: {load[0]} / {load[1]}.\n")


def main(argv):
  del argv   # absl has parsed the flags out of it.
  command = "python -m video_knet_jax.benchmark_deform_attn " + " ".join(sys.argv[1:])
  records = run(_HEIGHT.value, _WIDTH.value, _BATCH.value, _ROUNDS.value, _CALLS.value,
                _METHODS.value, _PASSES.value)
  for r in records:
    print(json.dumps(r))
  by = {(r["method"], r["pass"]): r for r in records}
  for name in _PASSES.value:
    if ("gather", name) in by and ("one_hot", name) in by:
      ratio = by[("one_hot", name)]["s_median"] / by[("gather", name)]["s_median"]
      print(f"{name}: one_hot / gather = {ratio:.1f}x")
  if _MARKDOWN.value:
    with open(_MARKDOWN.value, "a") as f:
      f.write(markdown(records, command))


if __name__ == "__main__":
  app.run(main)
