"""The recipes, imported as `video_knet_jax.configs.*`.

Their files live in the repository's top-level `configs/` folder (where
`--config=configs/kitti_step.py` finds them); this package points there in a
clone, and `pip install` ships that folder as this package.
"""
import os

__path__ = [os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "configs")]
