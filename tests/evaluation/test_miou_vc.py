"""VSPW mIoU and mVC: golden cases + random vs pixel loops."""
import math

import numpy as np
import pytest

from tests.evaluation import slow_metrics
from video_knet_jax.evaluation.miou import MeanIoU, vspw_mask_to_label
from video_knet_jax.evaluation.video_consistency import VideoConsistency


def test_miou_averages_gt_present_classes_only():
  m = MeanIoU(3)
  m.update(np.array([0, 0, 1, 255]), np.array([0, 2, 1, 2]))
  r = m.result()
  # class 0: 1 / 2; class 1: 1; class 2 only predicted -> not averaged (STQ would).
  assert r["mIoU"] == pytest.approx(0.75, abs=1e-12)
  assert r["pixel_accuracy"] == pytest.approx(2 / 3, abs=1e-12)
  assert r["IoU_per_class"][2] is None
  assert r["num_classes_present"] == 2


def test_miou_pools_pixels_and_nan_when_empty():
  m = MeanIoU(2)
  m.update(np.array([0, 0, 0, 0]), np.array([0, 0, 0, 1]))
  m.update(np.array([1]), np.array([1]))
  # class 0: 3/4; class 1: 1/2 -> pooled mean 0.625 (per-frame means: 0.375, 1).
  assert m.result()["mIoU"] == pytest.approx(0.625, abs=1e-12)
  empty = MeanIoU(2)
  empty.update(np.array([255, 255]), np.array([0, 1]))
  assert math.isnan(empty.result()["mIoU"])


def test_miou_prediction_out_of_range_raises():
  m = MeanIoU(3)
  with pytest.raises(ValueError, match="f.png.*outside"):
    m.update(np.array([0, 1]), np.array([0, 3]), name="f.png")
  m.update(np.array([255, 1]), np.array([7, 1]))  # on ignored pixels it is harmless


def test_vspw_mask_mapping():
  np.testing.assert_array_equal(vspw_mask_to_label(np.array([0, 1, 124, 255])),
                                [255, 0, 123, 255])


def test_mvc_skips_last_window_and_pools_windows():
  vc = VideoConsistency((2,))
  a = [([1, 1, 2, 2], [0, 0, 0, 0]), ([1, 1, 2, 3], [0, 1, 0, 0]), ([5] * 4, [9] * 4)]
  for g, p in a:
    vc.update(np.array([g]), np.array([p]), "a")
  # Only window (0, 1): C_gt = 3 px, C_gt & C_pred = 2 px -> 2/3. Window (1, 2) is
  # never used (range(T - n)).
  assert vc.result()["mVC_2"] == pytest.approx(2 / 3, abs=1e-12)
  assert vc.result()["windows_2"] == 1
  b = [([1] * 4, [0] * 4)] * 2 + [([1] * 4, [1] * 4)] * 2   # windows: VC 1, 0
  for g, p in b:
    vc.update(np.array([g]), np.array([p]), "b")
  # Pooled over 3 windows: (2/3 + 1 + 0) / 3, not the mean of video means.
  assert vc.result()["mVC_2"] == pytest.approx((2 / 3 + 1) / 3, abs=1e-12)


def test_mvc_nan_cases():
  vc = VideoConsistency((2,))
  for g in ([1, 2], [2, 1], [3, 3]):   # gt never stable -> window NaN, skipped
    vc.update(np.array([g]), np.array([g]), 0)
  assert math.isnan(vc.result()["mVC_2"])
  short = VideoConsistency((8, 16))
  for _ in range(8):                   # 8 frames: no window of 8 (range(0))
    short.update(np.zeros((2, 2)), np.zeros((2, 2)), 0)
  assert math.isnan(short.result()["mVC_8"]) and short.result()["windows_8"] == 0


def test_random_cases_match_slow_loops():
  rng = np.random.default_rng(0)
  videos = []
  for _ in range(3):
    t = int(rng.integers(3, 12))
    base = rng.integers(0, 4, (4, 5))
    frames = []
    for _ in range(t):
      g = np.where(rng.random((4, 5)) < 0.15, rng.integers(0, 4, (4, 5)), base)
      g = np.where(rng.random((4, 5)) < 0.1, 255, g)
      p = np.where(rng.random((4, 5)) < 0.2, rng.integers(0, 4, (4, 5)), np.minimum(g, 3))
      frames.append((g, p))
    videos.append(frames)
  vc = VideoConsistency((2, 3, 8))
  m = MeanIoU(4)
  for v, frames in enumerate(videos):
    for g, p in frames:
      vc.update(g, p, v)
      m.update(g, p)
  r = vc.result()
  for n in (2, 3, 8):
    want = slow_metrics.slow_mvc(videos, n)
    assert (math.isnan(want) and math.isnan(r[f"mVC_{n}"])) or \
        r[f"mVC_{n}"] == pytest.approx(want, abs=1e-12)
  assert m.result()["mIoU"] == pytest.approx(
      slow_metrics.slow_vspw_miou([f for v in videos for f in v], 4), abs=1e-12)
