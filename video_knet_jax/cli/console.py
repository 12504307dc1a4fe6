"""Console scripts of `pip install .`: vknet-train, -evaluate, -predict, -convert, -export.

Each runs the same code as its `python ...` form in a clone. `--config=NAME`
that is not a file is looked up among the configs shipped in the package
(`--config=kitti_step.py:debug` works from any directory).
"""
import os
import runpy
import sys

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # video_knet_jax/


def _find(kind: str, name: str) -> str:
  """A file shipped in the package (wheel) or beside it (clone, editable install)."""
  for path in (os.path.join(_PACKAGE, kind, name), os.path.join(os.path.dirname(_PACKAGE), name),
               os.path.join(os.path.dirname(_PACKAGE), kind, name)):
    if os.path.isfile(path):
      return path
  raise FileNotFoundError(f"{name}: not found in {_PACKAGE} (reinstall the package).")


def resolve_config_flag(argv):
  """--config=kitti_step.py[:arg] -> the shipped file, when no such file is here."""
  out = []
  for arg in argv:
    if arg.startswith("--config="):
      path, colon, rest = arg[len("--config="):].partition(":")
      if not os.path.exists(path):
        name = path if path.endswith(".py") else path + ".py"
        for candidate in (os.path.join(_PACKAGE, "configs", os.path.basename(name)),
                          os.path.join(os.path.dirname(_PACKAGE), "configs",
                                       os.path.basename(name))):
          if os.path.isfile(candidate):
            arg = f"--config={candidate}{colon}{rest}"
            break
    out.append(arg)
  return out


def _run_script(name: str) -> None:
  sys.argv = resolve_config_flag(sys.argv)
  runpy.run_path(_find("_scripts", name), run_name="__main__")


def train():
  _run_script("train.py")


def evaluate():
  _run_script("evaluate.py")


def predict():
  from video_knet_jax import predict as predict_lib  # pylint: disable=g-import-not-at-top
  sys.exit(predict_lib.main(resolve_config_flag(sys.argv)))


def export():
  from video_knet_jax import export as export_lib  # pylint: disable=g-import-not-at-top
  sys.exit(export_lib.main(resolve_config_flag(sys.argv)))


def convert():
  sys.argv = resolve_config_flag(sys.argv)
  runpy.run_module("video_knet_jax.convert", run_name="__main__", alter_sys=True)
