"""Four training steps and an evaluation per task give the recorded digests.

`tests/golden_digests.json` was recorded (tests/golden_digest.py, one CPU
device) before the panoptic, semantic and instance stacks became one
machinery (issue 25): the same measurements every step, the same parameters,
batch statistics and optimizer state bit for bit, the same checkpoint tree,
metrics and evaluation files.
"""
import json
import os
import subprocess
import sys

import pytest

from tests import golden_digest
from tests import train_process

pytestmark = pytest.mark.slow
FIXTURE = os.path.join(os.path.dirname(__file__), "golden_digests.json")


def _differences(want, got, path=""):
  """Paths (and values) where two JSON trees differ, first ones first."""
  if isinstance(want, dict) and isinstance(got, dict):
    out = [f"{path}/{k}: missing" for k in want if k not in got]
    out += [f"{path}/{k}: unexpected" for k in got if k not in want]
    for k in want:
      if k in got:
        out += _differences(want[k], got[k], f"{path}/{k}")
    return out
  if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
    return [d for i, (a, b) in enumerate(zip(want, got))
            for d in _differences(a, b, f"{path}[{i}]")]
  return [] if want == got else [f"{path}: recorded {want!r}, now {got!r}"]


def test_training_and_evaluation_match_the_recorded_digests(tmp_path):
  output = str(tmp_path / "digests.json")
  result = subprocess.run(
      [sys.executable, "-m", "tests.golden_digest", f"--output={output}"],
      cwd=train_process.ROOT, env=train_process.child_env(num_devices=1),
      capture_output=True, text=True, timeout=1200, check=False)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
  with open(FIXTURE) as f:
    want = json.load(f)
  with open(output) as f:
    got = json.load(f)
  assert sorted(got) == sorted(golden_digest.CONFIGS)
  differences = _differences(want, got)
  assert not differences, "\n".join(differences[:40])
