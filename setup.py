"""Package layout for `pip install .` (metadata and scripts are in pyproject.toml).

The wheel holds one top-level package, `video_knet_jax`. The repository's
top-level folders go inside it, so nothing installed shadows another
distribution (a top-level `datasets` would hide the Hugging Face library):
  datasets/             -> video_knet_jax/datasets/   (the TFDS builders)
  configs/*.py          -> video_knet_jax/configs/    (--config=kitti_step.py works)
  train.py, evaluate.py -> video_knet_jax/_scripts/   (run by vknet-train / vknet-evaluate)
A clone keeps its layout; `video_knet_jax/datasets/__init__.py` points there.
"""
import glob
import os
import shutil

import setuptools
from setuptools.command import build_py

_HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPy(build_py.build_py):
  """Also copies configs/*.py and the two entry scripts into the package."""

  def run(self):
    super().run()
    package = os.path.join(self.build_lib, "video_knet_jax")
    for target, files in (("configs", glob.glob(os.path.join(_HERE, "configs", "*.py"))),
                          ("_scripts", [os.path.join(_HERE, "train.py"),
                                        os.path.join(_HERE, "evaluate.py")])):
      os.makedirs(os.path.join(package, target), exist_ok=True)
      for path in files:
        shutil.copy(path, os.path.join(package, target, os.path.basename(path)))


def _packages():
  own = ["video_knet_jax"] + [
      "video_knet_jax." + p for p in setuptools.find_packages("video_knet_jax")
      if p != "datasets" and not p.startswith("datasets.")]
  data = ["video_knet_jax.datasets"] + [
      "video_knet_jax.datasets." + p for p in setuptools.find_packages("datasets")]
  return own + data


setuptools.setup(
    packages=_packages(),
    package_dir={"video_knet_jax": "video_knet_jax", "video_knet_jax.datasets": "datasets"},
    package_data={"": ["*.md", "*.bib", "*.tsv"]},  # TFDS reads these beside a builder.
    cmdclass={"build_py": BuildPy},
)
