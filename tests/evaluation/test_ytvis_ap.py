"""YouTube-VIS AP: a hand-computed 2-frame case + agreement with pycocotools'
COCOeval on single-frame videos (where the spatio-temporal IoU is the mask IoU)."""
import contextlib
import copy
import io

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from video_knet_jax.evaluation.ytvis_ap import AREA_RNG, YouTubeVISEval


def _rle(m):
  r = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
  r["counts"] = r["counts"].decode()
  return r


def _box(h, w, y0, y1, x0, x1):
  m = np.zeros((h, w), bool)
  m[y0:y1, x0:x1] = True
  return m


def _gt(videos, anns, num_cats=2):
  return {"videos": videos, "categories": [{"id": c, "name": str(c)} for c in
                                           range(1, num_cats + 1)], "annotations": anns}


def test_spatio_temporal_iou_and_summary():
  m = _box(4, 4, 0, 2, 0, 2)
  gt = _gt([{"id": 1, "height": 4, "width": 4, "length": 2, "file_names": ["a", "b"]}],
           [{"id": 1, "video_id": 1, "category_id": 1, "iscrowd": 0,
             "segmentations": [_rle(m), _rle(m)], "areas": [4, 4]}])
  # Detection present in frame 0 only: IoU = 4 / (4 + 4) = 0.5 -> matched at 0.5 only.
  res = [{"video_id": 1, "category_id": 1, "score": 0.9, "segmentations": [_rle(m), None]}]
  s = YouTubeVISEval(gt).evaluate(res)["stats"]
  assert s["AP"] == pytest.approx(0.1, abs=1e-12)
  assert s["AP50"] == pytest.approx(1.0) and s["AP75"] == 0.0
  assert s["AR100"] == pytest.approx(0.1, abs=1e-12)
  assert s["AP_s"] == pytest.approx(0.1, abs=1e-12)
  assert s["AP_m"] == -1.0 and s["AP_l"] == -1.0          # no gt in those ranges
  # Lower-scored duplicate: an FP after the TP -> precision stays 1 up to recall 1.
  res.append({"video_id": 1, "category_id": 1, "score": 0.1,
              "segmentations": [None, _rle(m)]})
  assert YouTubeVISEval(gt).evaluate(res)["stats"]["AP50"] == pytest.approx(1.0)
  # Higher-scored FP first: precision at recall 1 becomes 1/2.
  res[1]["score"] = 0.95
  res[1]["segmentations"] = [None, _rle(_box(4, 4, 2, 4, 2, 4))]
  assert YouTubeVISEval(gt).evaluate(res)["stats"]["AP50"] == pytest.approx(0.5)


def test_crowd_gt_is_ignored():
  m = _box(4, 4, 0, 2, 0, 2)
  v = [{"id": 1, "height": 4, "width": 4, "length": 1, "file_names": ["a"]}]
  gt = _gt(v, [{"id": 1, "video_id": 1, "category_id": 1, "iscrowd": 1,
                "segmentations": [_rle(m)], "areas": [4]},
               {"id": 2, "video_id": 1, "category_id": 1, "iscrowd": 0,
                "segmentations": [_rle(~m)], "areas": [12]}])
  res = [{"video_id": 1, "category_id": 1, "score": 0.9, "segmentations": [_rle(m)]},
         {"video_id": 1, "category_id": 1, "score": 0.5, "segmentations": [_rle(~m)]}]
  # The detection on the crowd is ignored (not FP), the other is a TP.
  assert YouTubeVISEval(gt).evaluate(res)["stats"]["AP"] == pytest.approx(1.0)


@pytest.mark.parametrize("bad,match", [
    ([], "empty results"),
    ([{"video_id": 9, "category_id": 1, "score": 1, "segmentations": [None]}],
     "unknown video_id 9"),
    ([{"video_id": 1, "category_id": 1, "segmentations": [None]}], "score"),
    ([{"video_id": 1, "category_id": 1, "score": 1, "segmentations": []}],
     "one segmentation"),
])
def test_malformed_results_raise(bad, match):
  v = [{"id": 1, "height": 4, "width": 4, "length": 1, "file_names": ["a"]}]
  with pytest.raises(ValueError, match=match):
    YouTubeVISEval(_gt(v, [])).evaluate(bad, name="res.json")


def test_matches_cocoeval_on_single_frame_videos():
  rng = np.random.default_rng(0)
  for _ in range(6):
    h, w = int(rng.integers(100, 300)), int(rng.integers(100, 300))
    videos, images, anns, res = [], [], [], []
    for v in range(1, int(rng.integers(2, 5))):
      videos.append({"id": v, "height": h, "width": w, "length": 1, "file_names": ["f"]})
      images.append({"id": v, "height": h, "width": w})
      for _ in range(int(rng.integers(0, 5))):
        y, x = int(rng.integers(0, h - 20)), int(rng.integers(0, w - 20))
        dy, dx = rng.integers(5, 200, 2)
        m = _box(h, w, y, y + dy, x, x + dx)
        c = int(rng.integers(1, 4))
        anns.append({"id": len(anns) + 1, "video_id": v, "category_id": c, "iscrowd": 0,
                     "segmentations": [_rle(m)], "areas": [int(m.sum())]})
        for _ in range(int(rng.integers(0, 3))):
          d = np.roll(m, int(rng.integers(-30, 30)), axis=int(rng.integers(0, 2)))
          res.append({"video_id": v, "category_id": c if rng.random() < .8 else
                      int(rng.integers(1, 4)), "score": float(np.round(rng.random(), 2)),
                      "segmentations": [_rle(d)]})
    if not res:
      continue
    ours = YouTubeVISEval(_gt(copy.deepcopy(videos), copy.deepcopy(anns), 3)).evaluate(
        copy.deepcopy(res))["stats"]
    coco_gt = {"images": images, "categories": [{"id": c} for c in range(1, 4)],
               "annotations": [{"id": a["id"], "image_id": a["video_id"],
                                "category_id": a["category_id"], "iscrowd": 0,
                                "segmentation": a["segmentations"][0],
                                "area": a["areas"][0],
                                "bbox": list(mask_utils.toBbox(a["segmentations"][0]))}
                               for a in anns]}
    with contextlib.redirect_stdout(io.StringIO()):
      cg = COCO()
      cg.dataset = coco_gt
      cg.createIndex()
      cd = cg.loadRes([{"image_id": r["video_id"], "category_id": r["category_id"],
                        "score": r["score"], "segmentation": r["segmentations"][0]}
                       for r in res])
      ev = COCOeval(cg, cd, "segm")
      ev.params.areaRng = [list(a) for a in AREA_RNG]
      ev.evaluate()
      ev.accumulate()
      ev.summarize()
    np.testing.assert_allclose(list(ours.values()), ev.stats, rtol=0, atol=1e-12)
