r"""Times STQ + VPQ on a generated set the size of KITTI-STEP val.

  python -m video_knet_jax.evaluation.benchmark_metrics            # 9 seq, 2,981 frames
  python -m video_knet_jax.evaluation.benchmark_metrics --frames=90 --no_update_docs

Frames are random but structured: per sequence a banded stuff layout that
scrolls, void areas, and moving person/car boxes with track ids that appear and
disappear; predictions shift the boxes, switch ids now and then, and mislabel
blocks. Every frame goes through one `count_pairs` pass shared by STQ (official
KITTI-STEP protocol) and VPQ (Video K-Net protocol, windows of 1-4 frames).
Sequences are split over `--workers` processes. Prints a JSON record and, unless
--no_update_docs, rewrites the "Metrics" section of docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import time
from typing import List

import numpy as np

from video_knet_jax.evaluation.segment_counts import SegmentCounts
from video_knet_jax.evaluation.segment_counts import count_pairs
from video_knet_jax.evaluation.stq import kitti_step_stq
from video_knet_jax.evaluation.vpq import VideoPanopticQuality
from video_knet_jax.evaluation.vpq import score_window

DIVISOR = 1000
KITTI_VAL_FRAMES = 2981
KITTI_VAL_SEQUENCES = 9
SECTION_BEGIN = "<!-- metrics-benchmark:begin -->"
SECTION_END = "<!-- metrics-benchmark:end -->"


def _sequence_lengths(frames: int, sequences: int) -> List[int]:
  base, extra = divmod(frames, sequences)
  return [base + (k < extra) for k in range(sequences)]


class _SequenceGenerator:
  """Scrolling stuff bands + moving thing boxes for one sequence."""

  def __init__(self, seed: int, height: int, width: int):
    self.rng = np.random.default_rng(seed)
    self.h, self.w = height, width
    bands = np.array([10, 2, 8, 5, 1, 0], np.int32)  # sky, building, vegetation, ...
    rows = np.repeat(bands, -(-height // len(bands)))[:height]
    layout = np.repeat(rows[:, None], width, 1)
    for _ in range(12):  # stuff blocks (poles, signs, walls ...)
      y, x = self.rng.integers(0, max(1, height - 40)), self.rng.integers(0, max(1, width - 80))
      layout[y:y + self.rng.integers(10, 40), x:x + self.rng.integers(10, 80)] = \
          self.rng.choice([3, 4, 5, 6, 7, 9])
    layout[: height // 12, : width // 6] = 255   # void corner
    self.layout = layout
    self.objects = []   # [track id, class, y, x, h, w, vx, frames left]
    self.next_id = 1

  def frame(self, t: int):
    rng = self.rng
    sem = np.roll(self.layout, t % self.w, axis=1)
    gt_inst = np.zeros((self.h, self.w), np.int32)
    gt_sem = sem.copy()
    pred_sem = sem.copy()
    pred_inst = np.zeros_like(gt_inst)
    if len(self.objects) < 10 and rng.random() < 0.3:
      cls = int(rng.choice([11, 13]))
      oh, ow = (int(rng.integers(40, 150)), int(rng.integers(20, 60))) if cls == 11 else \
          (int(rng.integers(30, 120)), int(rng.integers(60, 250)))
      oh, ow = min(oh, self.h // 2), min(ow, self.w // 2)
      self.objects.append([self.next_id, cls, int(rng.integers(self.h // 3, self.h - oh)),
                           int(rng.integers(0, self.w - ow)), oh, ow,
                           int(rng.integers(-8, 9)), int(rng.integers(5, 120))])
      self.next_id += 1
    alive = []
    for obj in self.objects:
      tid, cls, y, x, oh, ow, vx, left = obj
      x = int(np.clip(x + vx, 0, self.w - ow))
      obj[3], obj[7] = x, left - 1
      gt_sem[y:y + oh, x:x + ow] = cls
      gt_inst[y:y + oh, x:x + ow] = tid
      dy, dx = rng.integers(-4, 5, 2)
      py, px = max(0, y + dy), max(0, x + dx)
      pid = tid if rng.random() > 0.02 else tid + 500   # occasional id switch
      pred_sem[py:py + oh, px:px + ow] = cls
      pred_inst[py:py + oh, px:px + ow] = pid
      if obj[7] > 0:
        alive.append(obj)
    self.objects = alive
    for _ in range(3):  # mislabelled blocks
      y, x = rng.integers(0, max(1, self.h - 30)), rng.integers(0, max(1, self.w - 60))
      pred_sem[y:y + 30, x:x + 60] = rng.integers(0, 11)
      pred_inst[y:y + 30, x:x + 60] = 0
    pred_sem[pred_sem == 255] = 0       # the model never predicts void
    gt = gt_sem * DIVISOR + gt_inst
    pred = pred_sem * DIVISOR + pred_inst
    return gt, pred


def unique_counts(gt: np.ndarray, pred: np.ndarray) -> SegmentCounts:
  """The `count_pairs` table the plain way: np.unique (a sort) of the gt
  ids, the predicted ids and the pair keys, as the reference scripts count
  (deeplab2's numpy STQ, Video K-Net's VPQ); gt/pred may be stacked frames."""
  g = gt.reshape(-1).astype(np.int64)
  p = pred.reshape(-1).astype(np.int64)
  g_ids, g_areas = np.unique(g, return_counts=True)
  p_ids, p_areas = np.unique(p, return_counts=True)
  num_p = int(p.max()) + 1
  keys, counts = np.unique(g * num_p + p, return_counts=True)
  return SegmentCounts(
      g_ids, g_areas.astype(np.int64), p_ids, p_areas.astype(np.int64),
      np.searchsorted(g_ids, keys // num_p), np.searchsorted(p_ids, keys % num_p),
      counts.astype(np.int64))


class PlainVPQ(VideoPanopticQuality):
  """VPQ the reference's way: each window's k frames stacked and counted
  again with np.unique (same scoring as `VideoPanopticQuality`)."""

  def update(self, gt, pred, sequence_id=0):
    hist = self._history.setdefault(sequence_id, [])
    hist.append((gt, pred))
    del hist[:-max(self.window_sizes)]
    for n in self.window_sizes:
      if len(hist) >= n:
        window = unique_counts(np.stack([g for g, _ in hist[-n:]]),
                               np.stack([p for _, p in hist[-n:]]))
        self._stats[n] += score_window(
            window, num_classes=self.num_classes, things=self.things,
            ignore_label=self.ignore_label, label_divisor=self.label_divisor,
            protocol=self.protocol)
        self._windows[n] += 1


def _compare_worker(args, plain: bool):
  """CPU time of STQ + VPQ updates over generated frames: the public entries
  (`STQ.update` + `VPQ.update`, a count pass each) or, with `plain`, the
  baseline (np.unique per frame and per VPQ window)."""
  seqs, height, width = args
  stq = kitti_step_stq("official", DIVISOR)
  vpq_class = PlainVPQ if plain else VideoPanopticQuality
  vpq = vpq_class(19, (11, 13), 255, DIVISOR, (1, 2, 3, 4), "video_knet")
  cpu = 0.0
  for seq, length in seqs:
    gen = _SequenceGenerator(1000 + seq, height, width)
    for t in range(length):
      gt, pred = gen.frame(t)
      c = time.process_time()
      if plain:
        stq.update_counts(unique_counts(gt, pred), seq)
      else:
        stq.update(gt, pred, seq)
      vpq.update(gt, pred, seq)
      cpu += time.process_time() - c
    vpq.end_sequence(seq)
  return stq, vpq, cpu


def compare_plain(frames: int, sequences: int, height: int, width: int) -> dict:
  """CPU time of the public API vs the np.unique baseline on the same frames
  (one process each, one after the other); both must give the same scores."""
  lengths = _sequence_lengths(frames, sequences)
  args = (list(enumerate(lengths)), height, width)
  out = {}
  for name, plain in (("public", False), ("plain_unique", True)):
    stq, vpq, cpu = _compare_worker(args, plain)
    out[name] = {"cpu_s": round(cpu, 3),
                 "cpu_ms_per_frame": round(1000 * cpu / max(1, frames), 3),
                 "STQ": stq.result()["STQ"], "VPQ": vpq.result()["VPQ"]}
  if (abs(out["public"]["STQ"] - out["plain_unique"]["STQ"]) > 1e-9
      or abs(out["public"]["VPQ"] - out["plain_unique"]["VPQ"]) > 1e-9):
    raise AssertionError(f"public and np.unique paths disagree: {out}")
  out["plain_over_public_cpu"] = round(
      out["plain_unique"]["cpu_s"] / max(out["public"]["cpu_s"], 1e-9), 2)
  return out


def _worker(args):
  seqs, height, width = args
  stq = kitti_step_stq("official", DIVISOR)
  vpq = VideoPanopticQuality(19, (11, 13), 255, DIVISOR, (1, 2, 3, 4), "video_knet")
  gen_s = metric_s = metric_cpu = 0.0
  frames = 0
  for seq, length in seqs:
    gen = _SequenceGenerator(1000 + seq, height, width)
    for t in range(length):
      t0 = time.perf_counter()
      gt, pred = gen.frame(t)
      t1, c1 = time.perf_counter(), time.process_time()
      counts = count_pairs(gt, pred)
      stq.update_counts(counts, seq)
      vpq.update_counts(counts, seq)
      metric_s += time.perf_counter() - t1
      metric_cpu += time.process_time() - c1
      gen_s += t1 - t0
      frames += 1
    vpq.end_sequence(seq)
  return stq, vpq, metric_s, gen_s, frames, metric_cpu


def run(frames: int = KITTI_VAL_FRAMES, sequences: int = KITTI_VAL_SEQUENCES,
        height: int = 375, width: int = 1242, workers: int = 2) -> dict:
  lengths = _sequence_lengths(frames, sequences)
  order = sorted(enumerate(lengths), key=lambda s: -s[1])
  workers = max(1, min(workers, sequences))
  chunks = [(order[k::workers], height, width) for k in range(workers)]
  load_before = os.getloadavg()[0]
  t0 = time.perf_counter()
  if workers == 1:
    parts = [_worker(chunks[0])]
  else:
    with multiprocessing.get_context("fork").Pool(workers) as pool:
      parts = pool.map(_worker, chunks)
  t1 = time.perf_counter()
  stq, vpq = parts[0][0], parts[0][1]
  for p in parts[1:]:
    stq.merge(p[0])
    vpq.merge(p[1])
  stq_res, vpq_res = stq.result(), vpq.result()
  t2 = time.perf_counter()
  metric_s = [p[2] for p in parts]
  return {
      "frames": sum(p[4] for p in parts), "sequences": sequences,
      "height": height, "width": width, "workers": workers,
      "wall_s_total": round(t2 - t0, 2),
      "metric_cpu_s": round(sum(p[5] for p in parts), 2),
      "metric_wall_s": round(max(metric_s) + (t2 - t1), 2),
      "generation_cpu_s": round(sum(p[3] for p in parts), 2),
      "cpu_ms_per_frame": round(1000 * sum(p[5] for p in parts)
                                / max(1, sum(p[4] for p in parts)), 2),
      "STQ": round(stq_res["STQ"], 4), "AQ": round(stq_res["AQ"], 4),
      "IoU": round(stq_res["IoU"], 4), "VPQ": round(vpq_res["VPQ"], 4),
      "machine": f"{platform.machine()}, {os.cpu_count()} cores visible",
      "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
  }


def render_section(rec: dict, command: str, note: str) -> str:
  return "\n".join([
      SECTION_BEGIN,
      "## Metrics",
      "",
      "STQ (official KITTI-STEP protocol) + VPQ (Video K-Net protocol, windows of",
      "1-4 frames) over a generated set the size of KITTI-STEP val, one shared",
      "`count_pairs` pass per frame (`video_knet_jax/evaluation/benchmark_metrics.py`).",
      "",
      f"Command: `{command}`",
      "",
      "| frames | sequences | size | workers | metric wall (s) | metric CPU (s) | CPU ms/frame | total wall incl. generation (s) |",
      "| --- | --- | --- | --- | --- | --- | --- | --- |",
      f"| {rec['frames']} | {rec['sequences']} | {rec['height']}x{rec['width']} | "
      f"{rec['workers']} | {rec['metric_wall_s']} | {rec['metric_cpu_s']} | "
      f"{rec['cpu_ms_per_frame']} | {rec['wall_s_total']} |",
      "",
      f"Machine: {rec['machine']}; 1-min load average before/after the run: "
      f"{rec['load_average_1min'][0]} / {rec['load_average_1min'][1]}. {note}".rstrip(),
      "",
      "`metric wall` = the slowest worker's time inside count_pairs/update plus",
      "merging and `result()`; frame generation is excluded (reported separately).",
      SECTION_END,
      ""])


def update_docs(path: str, section: str) -> None:
  """Replaces the marked Metrics section of `path` (appends it if absent)."""
  text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
  pattern = re.compile(re.escape(SECTION_BEGIN) + ".*?" + re.escape(SECTION_END) + "\n?",
                       re.S)
  if pattern.search(text):
    text = pattern.sub(lambda _: section, text)
  else:
    text = text.rstrip("\n") + "\n\n" + section
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    f.write(text)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--frames", type=int, default=KITTI_VAL_FRAMES)
  parser.add_argument("--sequences", type=int, default=KITTI_VAL_SEQUENCES)
  parser.add_argument("--height", type=int, default=375)
  parser.add_argument("--width", type=int, default=1242)
  parser.add_argument("--workers", type=int, default=2)
  parser.add_argument("--docs", default="docs/BENCHMARKS.md")
  parser.add_argument("--note", default="", help="free text, e.g. 'machine shared'")
  parser.add_argument("--no_update_docs", action="store_true")
  parser.add_argument("--compare_plain", action="store_true",
                      help="instead: time STQ.update + VPQ.update against a "
                      "plain np.unique implementation in one process; print "
                      "the CPU-time ratio")
  args = parser.parse_args(argv)
  if args.compare_plain:
    print(json.dumps(compare_plain(args.frames, args.sequences, args.height,
                                   args.width), sort_keys=True))
    return 0
  rec = run(args.frames, args.sequences, args.height, args.width, args.workers)
  print(json.dumps(rec, sort_keys=True))
  if not args.no_update_docs:
    command = ("python -m video_knet_jax.evaluation.benchmark_metrics"
               f" --frames={args.frames} --sequences={args.sequences}"
               f" --height={args.height} --width={args.width} --workers={args.workers}")
    update_docs(args.docs, render_section(rec, command, args.note))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
