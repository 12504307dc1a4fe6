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
