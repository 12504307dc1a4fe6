"""The project next to the PyTorch original in one run (`--mode=side_by_side`).

For every size: the train step with the PyTorch one (`--mode=train
--torch_reference`), the step's parts (`--mode=parts`), online inference with
the PyTorch online frame (`--mode=inference --torch_reference`) and
`predict`'s end-to-end frames/s on a generated video, each in a fresh
process one after the other; then one table of project / PyTorch ratios,
appended to --markdown with the CPU's name and the load average before and
after (the figures are only comparable on an otherwise idle machine).
"""
import os
import time
from typing import Callable, Dict, List, Sequence, Tuple

PARTS = ("backbone_neck_fwd_bwd", "heads_fwd_bwd", "losses_fwd_bwd", "matching",
         "optimizer", "step")


def parse_sizes(text: str) -> List[Tuple[int, int]]:
  """'192x640,384x1248' -> [(192, 640), (384, 1248)]."""
  sizes = []
  for item in text.split(","):
    h, _, w = item.strip().partition("x")
    if not (h.isdigit() and w.isdigit()):
      raise ValueError(f"--sizes: {item!r} is not HEIGHTxWIDTH.")
    sizes.append((int(h), int(w)))
  return sizes


def run_side_by_side(run_benchmark: Callable[[List[str]], dict],
                     base_args: Sequence[str], config_arg: str,
                     sizes: Sequence[Tuple[int, int]], steps: int,
                     predict_frames: int, machine: Dict) -> Dict:
  """Runs every benchmark of every size; returns {size: figures} and `machine`.

  `machine` is `benchmark.machine()`, passed in by the caller (importing
  `video_knet_jax.benchmark` here would define its flags twice when it runs
  as __main__).
  """
  from video_knet_jax.inference import predict_benchmark  # pylint: disable=g-import-not-at-top
  out = {"machine": dict(machine), "sizes": {}}
  start = time.time()
  for h, w in sizes:
    size = [f"--height={h}", f"--width={w}", f"--steps={steps}", "--batch=1"]
    figures = {
        "train": run_benchmark(list(base_args) + size + ["--mode=train",
                                                          "--torch_reference"]),
        "parts": run_benchmark(list(base_args) + size + ["--mode=parts"]),
        "inference": run_benchmark(list(base_args) + size + [
            "--mode=inference", "--torch_reference"]),
    }
    if predict_frames:
      figures["predict"] = predict_benchmark.time_predict(
          config_arg, predict_frames, h, w)
    out["sizes"][f"{h}x{w}"] = figures
  out["machine"]["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
  out["wall_s"] = round(time.time() - start, 1)
  return out


def table(result: Dict) -> str:
  """Markdown table of one side-by-side run."""
  rows = ["| size | work | project | PyTorch | project / PyTorch |",
          "| --- | --- | --- | --- | --- |"]
  for size, f in result["sizes"].items():
    t, i, p = f["train"], f["inference"], f["parts"]
    rows += [
        f"| {size} | train step, wall s (median) | {t['step_s_median']} | "
        f"{t['torch_step_s_median']} | {t['step_over_torch']} |",
        f"| {size} | train step, CPU s | {t['cpu_s_per_step']} | "
        f"{t['torch_cpu_s_per_step']} | {t['cpu_over_torch']} |",
        f"| {size} | online frame (model + merge + tracker), wall s | "
        f"{i['online_frame_s_median']} | {i['torch_online_frame_s_median']} | "
        f"{i['online_frame_over_torch']} |",
        f"| {size} | online frames/s | {round(1 / i['online_frame_s_median'], 3)} | "
        f"{round(1 / i['torch_online_frame_s_median'], 3)} | "
        f"{i['online_frames_per_s_over_torch']} (frames/s ratio) |",
        f"| {size} | model only, one frame, wall s | {i['model_frame_s_median']} | "
        f"{i['torch_frame_s_median']} | {i['model_frame_over_torch']} |",
        f"| {size} | fwd + bwd, proxy loss, wall s | {i['fwd_bwd_s_median']} | "
        f"{i['torch_fwd_bwd_s_median']} | {i['fwd_bwd_over_torch']} |",
    ]
    for part in PARTS:
      if part in p:
        rows.append(f"| {size} | part: {part}, wall s (CPU s) | "
                    f"{p[part]['s_median']} ({p[part]['cpu_s']}) | | |")
    if "predict" in f:
      pr = f["predict"]
      rows.append(f"| {size} | predict end to end, {pr['frames']} frames, "
                  f"frames/s (after compiling) | {pr['predict_frames_per_s']} "
                  f"({pr['predict_steady_frames_per_s']}) | "
                  f"{round(1 / i['torch_online_frame_s_median'], 3)} "
                  "(online frame, no decode/write) | |")
  return "\n".join(rows)


def markdown(result: Dict, command: str) -> str:
  """The section appended to docs/BENCHMARKS.md."""
  m = result["machine"]
  return (f"\n### Side by side with the PyTorch original ({time.strftime('%Y-%m-%d')})"
          f"\n\n`{command}`\n\nCPU: {m['cpu']}, {m['cores']} cores visible; "
          f"1-min load average {m['load_avg_1m']} before, "
          f"{m['load_avg_1m_after']} after ({result['wall_s']} s in all).\n\n"
          f"{table(result)}\n")


def main(argv: Sequence[str]) -> int:
  """`python -m video_knet_jax.benchmark_side_by_side [benchmark flags]`.

  The one-run command: `benchmark --mode=side_by_side` on the R50 KITTI-STEP
  recipe at 192x640 and 384x1248, appended to docs/BENCHMARKS.md (any flag
  given replaces its default).
  """
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  defaults = ["--mode=side_by_side", "--config=configs/kitti_step.py",
              "--markdown=docs/BENCHMARKS.md"]
  given = {a.split("=", 1)[0] for a in argv}
  cmd = [sys.executable, "-m", "video_knet_jax.benchmark"] + [
      d for d in defaults if d.split("=", 1)[0] not in given] + list(argv)
  print(" ".join(cmd[1:]), flush=True)
  return subprocess.call(cmd)


if __name__ == "__main__":
  import sys  # pylint: disable=g-import-not-at-top
  sys.exit(main(sys.argv[1:]))
