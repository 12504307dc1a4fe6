"""VPQ on divisor-form ids: golden cases + random vs the slow script replica."""
import math

import numpy as np
import pytest

from tests.evaluation import random_cases, slow_metrics
from video_knet_jax.evaluation.vpq import VideoPanopticQuality

D = 1000
V = 255 * D


def _run(frames_per_seq, protocol="video_knet", window_sizes=(1, 2), num_classes=2,
         things=(1,)):
  m = VideoPanopticQuality(num_classes, things, 255, D, window_sizes, protocol)
  for s, frames in enumerate(frames_per_seq):
    for gt, pred in frames:
      m.update(np.asarray(gt).reshape(1, -1), np.asarray(pred).reshape(1, -1), s)
  return m.result()


def _pq(res, n, part="All"):
  return res["per_window"][str(n)][part]["PQ"]


def test_iou_threshold_is_strict():
  # class 1: |g&p| = 1, union 2 -> IoU exactly 0.5 -> no match (tp 0, fn 1, fp 1).
  # class 0: IoU 2/3 -> match.
  r = _run([[([1001, 1001, 0, 0], [1001, 0, 0, 0])]], window_sizes=(1,))
  pc = r["per_window"]["1"]["per_class"]
  assert (pc["1"]["tp"], pc["1"]["fn"], pc["1"]["fp"]) == (0, 1, 1)
  assert pc["0"]["PQ"] == pytest.approx(2 / 3, abs=1e-12)
  # Video K-Net's epsilon (1e-10) makes PQ_c slightly below its exact value.
  assert _pq(r, 1) == pytest.approx(1 / 3, abs=1e-9)
  r = _run([[([1001, 1001, 0, 0], [1001, 1001, 1001, 0])]], window_sizes=(1,))
  assert r["per_window"]["1"]["per_class"]["1"]["tp"] == 1   # IoU 2/3 > 0.5


def test_id_switch_breaks_two_frame_tube_and_vpq_is_mean_over_windows():
  frames = [([1001] * 4, [1001] * 4), ([1001] * 4, [1002] * 4)]
  vk = _run([frames])
  # n=1: two perfect windows, class 1 PQ 1, class 0 empty counts 0 (all-class mean).
  assert _pq(vk, 1) == pytest.approx(0.5, abs=1e-9)
  # n=2: tube of 8 px vs two predicted tubes of 4 px -> IoU 0.5 -> no match.
  assert _pq(vk, 2) == pytest.approx(0.0, abs=1e-12)
  assert vk["VPQ"] == pytest.approx(0.25, abs=1e-9)
  assert vk["VPQ_th"] == pytest.approx(0.5, abs=1e-9)
  assert vk["per_window"]["2"]["num_windows"] == 1
  # panopticapi class mean skips the empty class 0.
  pa = _run([frames], protocol="panopticapi")
  assert pa["VPQ"] == pytest.approx(0.5, abs=1e-12)


def test_sequence_shorter_than_window_contributes_nothing():
  r = _run([[([1001] * 2, [1001] * 2)]] * 2, window_sizes=(1, 2))
  assert r["per_window"]["1"]["num_windows"] == 2
  assert r["per_window"]["2"]["num_windows"] == 0
  assert _pq(r, 2) == 0.0                                  # Video K-Net: all classes 0.
  r = _run([[([1001] * 2, [1001] * 2)]], protocol="panopticapi", window_sizes=(2,))
  assert math.isnan(_pq(r, 2))                             # nothing qualifies.


def test_video_knet_void_rules():
  # Only the id 255*D leaves the union; any class-255 id exempts from FP.
  r = _run([[([V, V, V, 1001], [1002] * 4)]], window_sizes=(1,))
  assert r["per_window"]["1"]["per_class"]["1"]["tp"] == 1   # union = 1 + 4 - 1 - 3
  r = _run([[([V + 1] * 3 + [1001], [1002] * 4)]], window_sizes=(1,))
  pc = r["per_window"]["1"]["per_class"]["1"]
  assert (pc["tp"], pc["fn"], pc["fp"]) == (0, 1, 0)        # 3/4 on void: not FP


def test_crowd_rules_differ_between_protocols():
  # gt: crowd (thing, instance 0) 3 px + one person; prediction covers all 4.
  frames = [[([1000, 1000, 1000, 1001], [1002] * 4)]]
  vk = _run(frames, window_sizes=(1,))["per_window"]["1"]["per_class"]["1"]
  # Video K-Net: instance 0 is an ordinary segment: it matches (IoU 3/4), 1001 is FN.
  assert (vk["tp"], vk["fn"], vk["fp"]) == (1, 1, 0)
  pa = _run(frames, "panopticapi", window_sizes=(1,))["per_window"]["1"]["per_class"]["1"]
  # panopticapi: crowd is not matched; the prediction (3/4 on crowd) is not an FP.
  assert (pa["tp"], pa["fn"], pa["fp"]) == (0, 1, 0)


def test_void_prediction_is_not_a_segment():
  # The void prediction (3 px) is neither matched nor an FP of any class; the
  # 1-px class-0 prediction (IoU 1/4) is the only FP.
  r = _run([[([0, 0, 0, 0], [V, V, V, 0])]], window_sizes=(1,))
  pcs = r["per_window"]["1"]["per_class"]
  assert (pcs["0"]["tp"], pcs["0"]["fn"], pcs["0"]["fp"]) == (0, 1, 1)
  assert sum(c["fp"] for c in pcs.values()) == 1


def test_unknown_class_raises():
  with pytest.raises(ValueError, match="unknown predicted"):
    _run([[([0, 0], [0, 9 * D])]])


@pytest.mark.parametrize("seed", range(3))
def test_random_cases_match_slow_script(seed):
  rng = np.random.default_rng(100 + seed)
  for _ in range(8):
    seqs = []
    for _ in range(int(rng.integers(1, 4))):
      gts, preds = random_cases.random_video(rng, int(rng.integers(1, 6)))
      seqs.append(list(zip(gts, preds)))
    m = VideoPanopticQuality(5, (2, 3), 255, D, (1, 2, 3, 4), "video_knet")
    for s, frames in enumerate(seqs):
      for g, p in frames:
        m.update(g, p, s)
    r = m.result()
    for n in (1, 2, 3, 4):
      want = slow_metrics.slow_vpq_video_knet(seqs, n, 5, (2, 3), 255, D)
      got = tuple(_pq(r, n, k) for k in ("All", "Things", "Stuff"))
      np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
