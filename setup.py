"""Package layout for `pip install .` (metadata and scripts are in pyproject.toml).

The wheel holds one top-level package, `video_knet_jax`. The repository's
top-level folders go inside it, so nothing installed shadows another
distribution (a top-level `datasets` would hide the Hugging Face library):
  datasets/             -> video_knet_jax/datasets/   (the TFDS builders)
  configs/              -> video_knet_jax/configs/    (--config=kitti_step.py works)
  train.py, evaluate.py -> video_knet_jax/_scripts/   (run by vknet-train / vknet-evaluate)
A clone keeps its layout; `video_knet_jax/datasets/__init__.py` and
`video_knet_jax/configs/__init__.py` point there.
"""
import os
import shutil

import setuptools
from setuptools.command import build_py

_HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPy(build_py.build_py):
  """Also copies the two entry scripts into the package."""

  def run(self):
    super().run()
    scripts = os.path.join(self.build_lib, "video_knet_jax", "_scripts")
    os.makedirs(scripts, exist_ok=True)
    for path in (os.path.join(_HERE, "train.py"), os.path.join(_HERE, "evaluate.py")):
      shutil.copy(path, os.path.join(scripts, os.path.basename(path)))


_MAPPED = ("datasets", "configs")   # repository folders shipped as subpackages.


def _packages():
  own = ["video_knet_jax"] + [
      "video_knet_jax." + p for p in setuptools.find_packages("video_knet_jax")
      if p.split(".")[0] not in _MAPPED]
  mapped = []
  for folder in _MAPPED:
    mapped += [f"video_knet_jax.{folder}"] + [
        f"video_knet_jax.{folder}." + p for p in setuptools.find_packages(folder)]
  return own + mapped


setuptools.setup(
    packages=_packages(),
    package_dir={"video_knet_jax": "video_knet_jax", "video_knet_jax.datasets": "datasets",
                 "video_knet_jax.configs": "configs"},
    package_data={"": ["*.md", "*.bib", "*.tsv"]},  # TFDS reads these beside a builder.
    cmdclass={"build_py": BuildPy},
)
