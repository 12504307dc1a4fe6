"""The metrics benchmark runs at toy size and rewrites only its own docs section."""
import json

from video_knet_jax.evaluation import benchmark_metrics


def test_tiny_run_and_docs_section_update(tmp_path, capsys):
  docs = tmp_path / "BENCHMARKS.md"
  docs.write_text("# Benchmarks\n\n## Training\n\nkeep me\n")
  args = ["--frames=7", "--sequences=2", "--height=60", "--width=90", "--workers=1",
          f"--docs={docs}", "--note=test"]
  assert benchmark_metrics.main(args) == 0
  rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert rec["frames"] == 7 and rec["sequences"] == 2
  assert 0.0 <= rec["STQ"] <= 1.0 and 0.0 <= rec["VPQ"] <= 1.0
  first = docs.read_text()
  assert "keep me" in first and first.count("## Metrics") == 1
  assert benchmark_metrics.main(args) == 0          # second run replaces, not appends
  second = docs.read_text()
  assert second.count("## Metrics") == 1 and "keep me" in second
  assert "--frames=7 --sequences=2" in second


def test_plain_unique_baseline_scores_the_same(capsys):
  # The baseline's table equals count_pairs' on a frame and on stacked frames,
  # and --compare_plain checks STQ/VPQ agreement itself (raises otherwise).
  import numpy as np  # pylint: disable=g-import-not-at-top
  from video_knet_jax.evaluation import segment_counts  # pylint: disable=g-import-not-at-top
  gen = benchmark_metrics._SequenceGenerator(3, 60, 90)  # pylint: disable=protected-access
  frames = [gen.frame(t) for t in range(3)]
  for gt, pred in [frames[0], (np.stack([f[0] for f in frames]),
                               np.stack([f[1] for f in frames]))]:
    fast = segment_counts.count_pairs(gt, pred)
    plain = benchmark_metrics.unique_counts(gt, pred)
    for field in ("gt_ids", "gt_areas", "pred_ids", "pred_areas", "pair_gt",
                  "pair_pred", "pair_counts"):
      np.testing.assert_array_equal(getattr(plain, field), getattr(fast, field))
  assert benchmark_metrics.main(["--compare_plain", "--frames=9", "--sequences=2",
                                 "--height=60", "--width=90"]) == 0
  rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert rec["public"]["STQ"] == rec["plain_unique"]["STQ"]
  assert rec["plain_over_public_cpu"] > 0
