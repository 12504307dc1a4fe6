r"""Draws a few synthetic frames next to their panoptic labels (docs/DATA.md).

  python -m datasets.synthetic_step.figure docs/synthetic_step.png
"""
import sys

import numpy as np
from PIL import Image as PILImage

from video_knet_jax.datasets.synthetic_step import generate
from video_knet_jax.datasets.synthetic_step import spec as spec_lib

# Cityscapes trainId colours for stuff; things get one colour per track id.
_PALETTE = np.array([
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156),
    (190, 153, 153), (153, 153, 153), (250, 170, 30), (220, 220, 0),
    (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
    (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100),
    (0, 0, 230), (119, 11, 32)], np.uint8)


def colourise(semantic: np.ndarray, instance: np.ndarray) -> np.ndarray:
  """[H, W] labels -> [H, W, 3]: stuff by class, things by track id, void black."""
  out = np.zeros(semantic.shape + (3,), np.uint8)
  labelled = semantic < len(_PALETTE)
  out[labelled] = _PALETTE[semantic[labelled]]
  for track in np.unique(instance[instance > 0]):
    rng = np.random.default_rng(int(track))
    out[instance == track] = rng.integers(60, 256, 3)
  return out


def figure(spec=spec_lib.SyntheticSpec(), sequence_id=7,
           frames=(8, 10, 12, 14)) -> np.ndarray:
  """Rows of [image | panoptic label] for the given frames, 2 px apart."""
  images, semantic, instance = generate.render_sequence(spec, sequence_id)
  rows = []
  for t in frames:
    gap = np.full((spec.height, 4, 3), 255, np.uint8)
    rows.append(np.concatenate(
        [images[t], gap, colourise(semantic[t], instance[t])], axis=1))
    rows.append(np.full((2, rows[-1].shape[1], 3), 255, np.uint8))
  return np.concatenate(rows[:-1], axis=0)


if __name__ == "__main__":
  PILImage.fromarray(figure()).save(sys.argv[1])
