"""`pip install .` gives one top-level package and working console scripts."""
import os
import pathlib
import re
import shutil
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
_TOP_LEVEL_DATASETS = re.compile(r"^\s*(from|import)\s+datasets\b", re.MULTILINE)


def test_code_imports_the_builders_only_as_video_knet_jax_datasets():
  """Imported as both `datasets.x` and `video_knet_jax.datasets.x`, TFDS would
  refuse to register a builder twice; installed, `datasets` is not ours."""
  offenders = [str(p.relative_to(REPO)) for p in REPO.rglob("*.py")
               if ".git" not in p.parts and _TOP_LEVEL_DATASETS.search(p.read_text())]
  assert not offenders, (f"import the builders as video_knet_jax.datasets.*: {offenders}")


def _site_dirs() -> list[str]:
  """The site-packages directories this interpreter imports from (a venv's or
  the system's), without the clone itself."""
  return [p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages")
          and os.path.isdir(p)]


def test_pip_install_into_a_fresh_venv_then_scripts_run_outside_the_clone(tmp_path):
  source = tmp_path / "source"     # a copy: pip builds in the source tree.
  shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
      ".git", "tests", "docs", "__pycache__", "build", "*.egg-info", ".pytest_cache"))
  venv = tmp_path / "venv"
  # No pip or setuptools of its own (the base interpreter's bundled ones may be
  # too old to build this package): the requirements and the build backend
  # (setuptools, wheel: requirements-test.txt) come from wherever this
  # interpreter has them, its own venv or the system. Not
  # `--system-site-packages`, which inside a venv means the base interpreter's.
  subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                 timeout=120)
  site = next(venv.glob("lib/python*/site-packages"))
  # Appended after the new venv's own site-packages: the installed copy wins.
  (site / "running_interpreter_site.pth").write_text("".join(
      f"import site; site.addsitedir({path!r})\n" for path in _site_dirs()))
  # This interpreter's pip installs into the new venv (`--python`): no downloads.
  subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                  "install", "--quiet", "--no-deps", "--no-build-isolation", str(source)],
                 check=True, timeout=300)
  record = next(site.glob("video_knet_jax-*.dist-info")) / "RECORD"
  top_level = {line.split(",")[0].split("/")[0] for line in record.read_text().splitlines()}
  top_level = {t for t in top_level if not t.startswith("..")}    # ../../bin/vknet-*.
  assert top_level == {"video_knet_jax", record.parent.name}, top_level
  installed = site / "video_knet_jax"
  assert (installed / "datasets" / "kitti_step" / "kitti_step_dataset_builder.py").is_file()
  assert (installed / "configs" / "kitti_step.py").is_file()

  outside = tmp_path / "elsewhere"
  outside.mkdir()
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  for script, expected in (("vknet-predict", "--input"), ("vknet-export", "--format"),
                           ("vknet-evaluate", "--workdir"), ("vknet-train", "--workdir")):
    result = subprocess.run([str(venv / "bin" / script), "--help"], cwd=outside, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    # absl's --help (train.py, evaluate.py) exits with status 1.
    assert result.returncode in (0, 1) and expected in result.stdout, (script, result.stderr)
    assert "Traceback" not in result.stderr, (script, result.stderr[-2000:])
  # The installed copy is the one that runs, and bundled configs resolve by name.
  probe = ("import video_knet_jax, video_knet_jax.datasets.kitti_step.facts as f;"
           "from video_knet_jax import api; from video_knet_jax.cli import console;"
           "c = console.resolve_config_flag(['--config=kitti_step.py:debug'])[0];"
           "print(video_knet_jax.__file__, f.KITTI_STEP.name, api.load_config(c[9:]).model.num_proposals)")
  result = subprocess.run([str(venv / "bin" / "python"), "-c", probe], cwd=outside, env=env,
                          capture_output=True, text=True, timeout=120, check=True)
  assert result.stdout.split() == [str(installed / "__init__.py"), "kitti_step", "8"]
