"""panopticapi PQ and VPSNet VPQ on COCO segments: golden + random vs slow."""
import math

import numpy as np
import pytest

from tests.evaluation import random_cases, slow_metrics
from video_knet_jax.evaluation import coco_panoptic
from video_knet_jax.evaluation.vpq import VideoPanopticQuality

CATS = [{"id": 1, "isthing": 1}, {"id": 2, "isthing": 0}]


def _seg(sid, cat, area, crowd=0):
  return {"id": sid, "category_id": cat, "area": area, "iscrowd": crowd}


def _pseg(sid, cat):
  return {"id": sid, "category_id": cat}


def test_crowd_region_exempts_prediction_from_fp():
  gt = np.array([[1, 1, 2, 2], [3, 3, 3, 3]])
  gt_info = [_seg(1, 1, 2, crowd=1), _seg(2, 1, 2), _seg(3, 2, 4)]
  pred = np.array([[10, 10, 11, 11], [10, 12, 12, 12]])
  pred_info = [_pseg(10, 1), _pseg(11, 1), _pseg(12, 2)]
  m = coco_panoptic.CocoPanopticQuality(CATS)
  m.update(gt, gt_info, pred, pred_info)
  r = m.result()
  # Segment 10: 2 of 3 px on the crowd of its class -> ignored. Cat 1: PQ 1;
  # cat 2: IoU 3/4.
  assert r["per_class"]["1"]["fp"] == 0
  assert r["All"]["PQ"] == pytest.approx((1 + 0.75) / 2, abs=1e-12)
  assert r["Things"]["PQ"] == pytest.approx(1.0)
  assert r["Stuff"]["PQ"] == pytest.approx(0.75)


def test_void_overlap_leaves_union_and_gt_area_comes_from_json():
  m = coco_panoptic.CocoPanopticQuality(CATS)
  m.update(np.array([[0, 0, 5, 5]]), [_seg(5, 2, 2)], np.array([[7, 7, 7, 7]]), [_pseg(7, 2)])
  assert m.result()["All"]["PQ"] == pytest.approx(1.0)   # 2 / (2 + 4 - 2 - 2)
  m = coco_panoptic.CocoPanopticQuality(CATS)
  # JSON area 3 (not the 2 pixels) enters the union: IoU = 2 / (3 + 2 - 2).
  m.update(np.array([[0, 0, 5, 5]]), [_seg(5, 2, 3)], np.array([[0, 0, 7, 7]]), [_pseg(7, 2)])
  assert m.result()["per_class"]["2"]["iou"] == pytest.approx(2 / 3)


def test_json_only_gt_segment_is_fn_and_thresholds_are_strict():
  m = coco_panoptic.CocoPanopticQuality(CATS)
  # pred 7 covers gt 5 (1 px) and void (1 px): IoU = 1 / (2 + 2 - 1 - 1) = 0.5 exactly
  # -> no match; void share 1/2 is not > 0.5 -> FP. gt 6 (JSON only) -> FN.
  m.update(np.array([[5, 5, 0, 0]]), [_seg(5, 1, 2), _seg(6, 1, 4)],
           np.array([[0, 7, 7, 0]]), [_pseg(7, 1)])
  pc = m.result()["per_class"]["1"]
  assert (pc["tp"], pc["fn"], pc["fp"]) == (0, 2, 1)


def test_counts_pool_over_images():
  m = coco_panoptic.CocoPanopticQuality(CATS)
  m.update(np.array([[5, 5, 6, 6]]), [_seg(5, 1, 2), _seg(6, 1, 2)],
           np.array([[7, 7, 0, 0]]), [_pseg(7, 1)])          # tp 1 (IoU 1), fn 1
  m.update(np.array([[5, 5, 0, 0]]), [_seg(5, 1, 2)], np.zeros((1, 4), int), [])  # fn 1
  r = m.result()
  # Pooled: 1 / (1 + 0.5 * 2) = 0.5, not the mean of per-image PQ (2/3 + 0) / 2.
  assert r["All"]["PQ"] == pytest.approx(0.5, abs=1e-12)
  assert r["All"]["n"] == 1 and math.isnan(r["Stuff"]["PQ"])
  assert r["num_images"] == 2


def test_no_qualifying_category_is_nan():
  m = coco_panoptic.CocoPanopticQuality(CATS)
  m.update(np.zeros((1, 3), int), [], np.zeros((1, 3), int), [])
  assert math.isnan(m.result()["All"]["PQ"])


def _aliasing_video():
  stuff9, tube5 = (9, 1), (5, 2)
  frames = [([9, 9, 9, 9], [(9, 1, 4)])] + [([5, 5, 9, 9], [(5, 2, 2), (9, 1, 2)])] * 3
  out = []
  for ids, segs in frames:
    arr = np.array([ids])
    out.append((arr, [_seg(s, c, a) for s, c, a in segs], arr.copy(),
                [_pseg(s, c) for s, c, _ in segs]))
  return out


@pytest.mark.parametrize("options,expected", [
    ({}, 1.0),                                            # default: script at its head
    ({"reference_area_aliasing": False}, 1.0),
    ({"reference_area_aliasing": True}, (1 + 0.875) / 2),  # script before 2020-09-30
])
def test_reference_area_aliasing(options, expected):
  # Tube 5 first appears in frame 1. The pre-fix script adds frame 2's area into
  # frame 1's segment dict in place in window [0..2]; window [1..3] then starts
  # from that inflated 4 and reaches 8 instead of 6 -> IoU 6 / 8 = 0.75 for that
  # window, and stuff 9 (areas 2 + 2 + 2 both ways) keeps IoU 1: PQ (1 + .75) / 2.
  # At the script's head every window sums fresh areas: IoU 1 everywhere.
  m = coco_panoptic.CocoVideoPanopticQuality(
      [{"id": 1, "isthing": 0}, {"id": 2, "isthing": 0}], (1, 3), 5, **options)
  for frame in _aliasing_video():
    m.update("v", *frame)
  r = m.result()
  assert r["per_k"]["0"]["All"]["PQ"] == pytest.approx(1.0)
  assert r["per_k"]["10"]["All"]["PQ"] == pytest.approx(expected, abs=1e-12)
  assert r["per_k"]["10"]["num_windows"] == 2
  assert r["VPQ"] == pytest.approx((1 + expected) / 2, abs=1e-12)


@pytest.mark.parametrize("gt_info,pred_info,pred,match", [
    ([_seg(5, 1, 2)], [_pseg(7, 1)], [[5, 5]], "in the PNG but not in the JSON"),
    ([_seg(5, 1, 2)], [_pseg(5, 1), _pseg(8, 1)], [[5, 5]], "in the JSON but not in the PNG"),
    ([_seg(5, 1, 2)], [_pseg(5, 3)], [[5, 5]], "unknown category_id 3"),
    ([_seg(5, 1, 2)], [_pseg(5, 1), _pseg(5, 1)], [[5, 5]], "appears twice"),
    ([], [_pseg(5, 1)], [[5, 5]], "ground-truth segment ids \\[5\\]"),
])
def test_invalid_segments_raise_with_name(gt_info, pred_info, pred, match):
  m = coco_panoptic.CocoPanopticQuality(CATS)
  with pytest.raises(ValueError, match="frame_x.png.*" + match):
    m.update(np.array([[5, 5]]), gt_info, np.array(pred), pred_info, name="frame_x.png")


def test_rgb_id_round_trip():
  ids = np.array([[0, 1, 256, 65536 + 7, 2**24 - 1]])
  np.testing.assert_array_equal(coco_panoptic.rgb_to_id(coco_panoptic.id_to_rgb(ids)), ids)


@pytest.mark.parametrize("seed", range(3))
def test_random_cases_match_slow_vpsnet(seed):
  rng = np.random.default_rng(200 + seed)
  cats = [{"id": c, "isthing": int(c in (2, 3))} for c in range(5)]
  for _ in range(6):
    seqs, videos = [], []
    for _ in range(int(rng.integers(1, 4))):
      gts, preds = random_cases.random_video(rng, int(rng.integers(1, 6)))
      seqs.append(list(zip(gts, preds)))
      videos.append([random_cases.to_coco(g, 1000, (2, 3), 255, True)
                     + random_cases.to_coco(p, 1000, (2, 3), 255, False)
                     for g, p in zip(gts, preds)])
    arrays = VideoPanopticQuality(5, (2, 3), 255, 1000, (1, 2, 3, 4), "panopticapi")
    for s, frames in enumerate(seqs):
      for g, p in frames:
        arrays.update(g, p, s)
    ra = arrays.result()
    for aliasing in (True, False):
      m = coco_panoptic.CocoVideoPanopticQuality(cats, (1, 2, 3, 4), 5, aliasing)
      for s, frames in enumerate(videos):
        for frame in frames:
          m.update(s, *frame)
      r = m.result()
      for n in (1, 2, 3, 4):
        want = slow_metrics.slow_vpsnet_vpq(videos, cats, n, aliasing)
        got = [r["per_k"][str(5 * (n - 1))][k]["PQ"] for k in ("All", "Things", "Stuff")]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        if not aliasing:  # the array protocol sums areas as intended.
          got = [ra["per_window"][str(n)][k]["PQ"] for k in ("All", "Things", "Stuff")]
          np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
