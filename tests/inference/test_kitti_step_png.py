"""KITTI-STEP PNG writer round trip and the colour helpers."""
import numpy as np
import pytest
from PIL import Image

from video_knet_jax.inference import kitti_step_png
from video_knet_jax.inference import visualize


def test_png_round_trip(tmp_path):
  rng = np.random.default_rng(0)
  semantic = rng.integers(0, 19, (6, 9)).astype(np.int32)
  semantic[0, 0] = 255
  ids = rng.integers(0, 70000 // 2, (6, 9)).astype(np.int32)
  ids[1, 1] = 65535
  path = kitti_step_png.submission_path(str(tmp_path / "final"), 2, 7)
  assert path.endswith("final/0002/000007.png")
  kitti_step_png.write_kitti_step_png(path, semantic, ids)
  raw = np.asarray(Image.open(path))
  assert raw.dtype == np.uint8 and raw.shape == (6, 9, 3)
  # Channel layout as in the ground truth: R class, G id // 256, B id % 256.
  np.testing.assert_array_equal(raw[..., 0], semantic)
  np.testing.assert_array_equal(raw[..., 1].astype(int) * 256 + raw[..., 2], ids)
  sem2, ids2 = kitti_step_png.read_kitti_step_png(path)
  np.testing.assert_array_equal(sem2, semantic)
  np.testing.assert_array_equal(ids2, ids)


def test_png_rejects_out_of_range_values(tmp_path):
  with pytest.raises(ValueError, match="65535"):
    kitti_step_png.encode_kitti_step(np.zeros((2, 2)), np.full((2, 2), 70000))
  with pytest.raises(ValueError, match="semantic"):
    kitti_step_png.encode_kitti_step(np.full((2, 2), 300), np.zeros((2, 2)))


def test_colours_are_consistent_per_track_id():
  semantic = np.array([[0, 13, 13], [255, 13, 11]])
  ids = np.array([[0, 5, 5], [0, 7, 0]])
  rgb = visualize.colorize(semantic, ids)
  np.testing.assert_array_equal(rgb[0, 0], visualize.CITYSCAPES_PALETTE[0])
  np.testing.assert_array_equal(rgb[1, 2], visualize.CITYSCAPES_PALETTE[11])  # untracked.
  np.testing.assert_array_equal(rgb[1, 0], [0, 0, 0])                         # void.
  np.testing.assert_array_equal(rgb[0, 1], rgb[0, 2])
  np.testing.assert_array_equal(rgb[0, 1], visualize.track_colors(np.array(5)))
  assert (rgb[0, 1] != rgb[1, 1]).any()
  colours = visualize.track_colors(np.arange(1, 65))
  assert len({tuple(c) for c in colours}) == 64


def test_overlay_blends_and_draws_borders():
  semantic = np.full((4, 4), 13)
  ids = np.full((4, 4), 5)
  semantic[:, 3], ids[:, 3] = 255, 0
  image = np.full((4, 4, 3), 100, np.uint8)
  out = visualize.overlay(image, semantic, ids, alpha=0.5)
  assert out.dtype == np.uint8 and out.shape == (4, 4, 3)
  expected = np.round(0.5 * 100 + 0.5 * visualize.track_colors(np.array(5)).astype(float))
  np.testing.assert_array_equal(out[0, 0], expected)            # interior: blended.
  np.testing.assert_array_equal(out[0, 2], [255, 255, 255])     # border with void.
  np.testing.assert_array_equal(out[0, 3], [100, 100, 100])     # void: the image.
