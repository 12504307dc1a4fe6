"""STQ: hand-computed golden cases (reference checklist 2.8) + random vs slow."""
import math

import numpy as np
import pytest

from tests.evaluation import random_cases, slow_metrics
from video_knet_jax.evaluation.stq import STQ, kitti_step_stq

D = 1000
V = 255 * D  # void


def _stq(frames, num_classes=2, things=(1,), drop_void=False):
  m = STQ(num_classes, things, 255, D, drop_void_pixels=drop_void)
  for gt, pred, seq in frames:
    m.update(np.asarray(gt).reshape(1, -1), np.asarray(pred).reshape(1, -1), seq)
  return m.result()


def test_void_prediction_adds_a_zero_iou_class():
  # 2 stuff px + 2 thing px, one stuff px predicted void: IoU = (1/2 + 1 + 0) / 3.
  r = _stq([([0, 0, 1001, 1001], [V, 0, 1001, 1001], 0)])
  assert r["IoU"] == pytest.approx(0.5, abs=1e-12)
  assert r["IoU_per_class"] == pytest.approx([0.5, 1.0, 0.0])   # last = void slot
  assert r["AQ"] == pytest.approx(1.0, abs=1e-12)
  assert r["STQ"] == pytest.approx(math.sqrt(0.5), abs=1e-12)


def test_thing_prediction_on_void_is_punished_unless_void_dropped():
  frames = [([1001, 1001, V, V], [1001, 1001, 1001, 1001], 0)]
  official = _stq(frames)
  # Pred tube has 4 px (2 on void): AQ_g = (1/2) * 2 * 2/4 = 0.5; void row zeroed -> IoU 1.
  assert official["AQ"] == pytest.approx(0.5, abs=1e-12)
  assert official["IoU"] == pytest.approx(1.0, abs=1e-12)
  assert official["STQ"] == pytest.approx(math.sqrt(0.5), abs=1e-12)
  dropped = _stq(frames, drop_void=True)  # Video K-Net script protocol.
  assert dropped["AQ"] == pytest.approx(1.0, abs=1e-12)
  assert dropped["STQ"] == pytest.approx(1.0, abs=1e-12)


def test_crowd_pixels_leave_predicted_tubes():
  # gt thing class with instance 0 = crowd: removed from the prediction's tube.
  r = _stq([([1000, 1000, 1001, 1001], [1002, 1002, 1002, 1002], 0)])
  assert r["AQ"] == pytest.approx(1.0, abs=1e-12)   # not 0.5
  assert r["IoU"] == pytest.approx(1.0, abs=1e-12)


def test_association_is_class_agnostic():
  r = _stq([([1001] * 4, [2001, 2001, 1001, 1001], 0)], num_classes=3, things=(1, 2))
  # Both predicted tubes overlap the gt tube by 2: (1/4) * (2*2/4 + 2*2/4) = 0.5.
  assert r["AQ"] == pytest.approx(0.5, abs=1e-12)
  # IoU: class 1 = 2/4, class 2 = 0 (prediction only), class 0 absent -> mean 0.25.
  assert r["IoU"] == pytest.approx(0.25, abs=1e-12)
  assert r["STQ"] == pytest.approx(math.sqrt(0.125), abs=1e-12)


def test_aq_is_tube_weighted_over_sequences():
  r = _stq([([1001, 1001, 0, 0], [1001, 1001, 0, 0], "a"),
            ([1001, 1001, 1002, 1002], [1003] * 4, "b")])
  assert r["AQ_per_seq"] == pytest.approx([1.0, 0.5], abs=1e-12)
  assert r["AQ"] == pytest.approx(2 / 3, abs=1e-12)   # not (1 + 0.5) / 2
  assert r["ID_per_seq"] == ["a", "b"]
  assert r["Length_per_seq"] == [1, 1]


def test_iou_pools_the_confusion_matrix():
  r = _stq([([0, 0, 0, 0], [0, 0, 0, 1000], "a"), ([1000] * 4, [1000] * 4, "b")],
           num_classes=3, things=(2,))
  assert r["IoU_per_seq"] == pytest.approx([0.375, 1.0], abs=1e-12)
  assert r["IoU"] == pytest.approx((0.75 + 0.8) / 2, abs=1e-12)  # not 0.6875


def test_ignore_label_inside_class_range_matches_slow():
  # ignore_label < num_classes (no extra slot): its gt row is dropped, its column kept.
  rng = np.random.default_rng(11)
  gts, preds = random_cases.random_video(rng, 4, num_classes=5, things=(2, 3),
                                         ignore_label=4, p_void=0.2)
  frames = [(g, p, 0) for g, p in zip(gts, preds)]
  m = STQ(5, (2, 3), ignore_label=4, label_divisor=D)
  for g, p, s in frames:
    m.update(g, p, s)
  want = slow_metrics.slow_stq(frames, 5, (2, 3), 4, D)
  assert m.result()["STQ"] == pytest.approx(want["STQ"], abs=1e-12)
  assert m.result()["IoU"] == pytest.approx(want["IoU"], abs=1e-12)
  assert len(m.result()["IoU_per_class"]) == 5


def test_all_void_is_nan():
  r = _stq([([V, V], [0, 1001], 0)])
  assert math.isnan(r["IoU"]) and math.isnan(r["STQ"])
  assert r["AQ"] == 0.0


def test_unknown_class_raises():
  with pytest.raises(ValueError, match="unknown predicted semantic class"):
    _stq([([0, 0], [0, 7 * D], 0)])
  with pytest.raises(ValueError, match="unknown ground-truth semantic class"):
    _stq([([30 * D, 0], [0, 0], 0)])


def test_kitti_step_protocols():
  official = kitti_step_stq("official")
  assert official.things == (11, 13) and not official.drop_void_pixels
  paper = kitti_step_stq("video_knet")
  assert paper.things == tuple(range(11, 19)) and paper.drop_void_pixels
  # A rider (12) prediction over a person: a tube only under the paper's things.
  gt = np.array([[11001, 11001, 0, 0]])
  pred = np.array([[12000, 12000, 0, 0]])
  official.update(gt, pred, 0)
  paper.update(gt, pred, 0)
  assert official.result()["AQ"] == 0.0
  assert paper.result()["AQ"] == pytest.approx(1.0)
  with pytest.raises(ValueError):
    kitti_step_stq("nope")


def _close(a, b):
  return (math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-12


@pytest.mark.parametrize("seed", range(4))
def test_random_cases_match_slow_pixel_loop(seed):
  rng = np.random.default_rng(seed)
  for _ in range(10):
    frames = []
    for s in range(int(rng.integers(1, 4))):
      gts, preds = random_cases.random_video(rng, int(rng.integers(1, 6)))
      frames += [(g, p, s) for g, p in zip(gts, preds)]
    for drop in (False, True):
      m = STQ(5, (2, 3), 255, D, drop_void_pixels=drop)
      for g, p, s in frames:
        m.update(g, p, s)
      got = m.result()
      want = slow_metrics.slow_stq(frames, 5, (2, 3), 255, D, drop)
      for key in ("STQ", "AQ", "IoU"):
        assert _close(got[key], want[key]), (key, got[key], want[key])
      for k, s in enumerate(got["ID_per_seq"]):
        assert _close(got["AQ_per_seq"][k], want["per_seq"][s][0])
        assert _close(got["IoU_per_seq"][k], want["per_seq"][s][1])


def test_frame_streaming_state_and_merge():
  # Compaction (every 32 frames) and merge() do not change the result.
  rng = np.random.default_rng(7)
  gts, preds = random_cases.random_video(rng, 40)
  a, b, whole = STQ(5, (2, 3)), STQ(5, (2, 3)), STQ(5, (2, 3))
  for k, (g, p) in enumerate(zip(gts, preds)):
    (a if k < 35 else b).update(g, p, k // 35)
    whole.update(g, p, k // 35)
  a.merge(b)
  ra, rw = a.result(), whole.result()
  for key in ("STQ", "AQ", "IoU"):
    assert ra[key] == pytest.approx(rw[key], abs=1e-12)
