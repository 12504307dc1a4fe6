"""The README's Quickstart: two commands, the second is exactly what CI runs."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _quickstart_commands():
  text = open(os.path.join(ROOT, "README.md")).read()
  section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
  return [block.strip() for block in
          re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_quickstart_has_two_commands_and_ci_runs_the_test_one():
  install_and_run, run_tests = _quickstart_commands()
  assert install_and_run.startswith("pip install -r requirements.txt && ")
  assert "train.py" in install_and_run and "evaluate.py" in install_and_run
  ci = open(os.path.join(ROOT, ".ci", "run")).read().strip().splitlines()
  assert ci[-1] == run_tests


def test_files_the_quickstart_names_exist():
  for command in _quickstart_commands():
    for path in re.findall(r"[\w/.-]+\.(?:py|txt)", command):
      assert os.path.exists(os.path.join(ROOT, path)), path
