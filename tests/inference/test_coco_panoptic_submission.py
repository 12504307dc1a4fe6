"""The Cityscapes-VPS / VIPSeg submission writer: PNG ids and JSON agree."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from video_knet_jax.datasets import coco_panoptic_video
from video_knet_jax.inference import coco_panoptic_submission as sub


def _frame():
  semantic = np.array([[0, 0, 13, 13], [255, 11, 11, 13]])
  ids = np.array([[0, 0, 2, 2], [0, 1, 1, 3]])
  return semantic, ids


def test_cityscapes_vps_layout_round_trip(tmp_path):
  writer = sub.SubmissionWriter(str(tmp_path), "cityscapes_vps", 255)
  semantic, ids = _frame()
  png = writer.add("val/img_all/0003_0065_frankfurt_000003_003004_newImg8bit.png",
                   3, semantic, ids)
  assert png == str(tmp_path / "pan_pred" / "0003_0065_frankfurt_000003_003004.png")
  writer.close()
  data = json.loads((tmp_path / "pred.json").read_text())
  (ann,) = data["annotations"]
  assert ann["image_id"] == "0003_0065_frankfurt_000003_003004"
  seg = coco_panoptic_video.rgb_to_id(np.asarray(Image.open(png)))
  assert seg[1, 0] == 0                      # void.
  by_id = {s["id"]: s for s in ann["segments_info"]}
  assert set(by_id) == set(np.unique(seg).tolist()) - {0}
  for s in by_id.values():
    mask = seg == s["id"]
    assert s["area"] == mask.sum()
    assert (semantic[mask] == s["category_id"]).all()
    assert len(np.unique(ids[mask])) == 1   # one track per segment.
  assert len(by_id) == 4                      # road, car 2, person 1, car 3.


def test_vipseg_layout_groups_frames_by_video(tmp_path):
  writer = sub.SubmissionWriter(str(tmp_path), "vipseg", 255)
  semantic, ids = _frame()
  for t in range(2):
    writer.add(f"images/12_abc/{t:08d}.jpg", 0, semantic, ids)
  writer.close()
  (video,) = json.loads((tmp_path / "pred.json").read_text())["annotations"]
  assert video["video_id"] == "12_abc"
  assert [a["file_name"] for a in video["annotations"]] == [
      "00000000.png", "00000001.png"]
  assert os.path.exists(tmp_path / "pan_pred" / "12_abc" / "00000001.png")
  # The same class and track keep one segment id over the video.
  ids0 = {s["id"] for s in video["annotations"][0]["segments_info"]}
  ids1 = {s["id"] for s in video["annotations"][1]["segments_info"]}
  assert ids0 == ids1


def test_bad_format_and_ids_are_refused(tmp_path):
  with pytest.raises(ValueError, match="kitti"):
    sub.SubmissionWriter(str(tmp_path), "kitti", 255)
  with pytest.raises(ValueError, match="track ids"):
    sub.segment_ids(np.zeros((1, 1)), np.full((1, 1), 70000), 255)
