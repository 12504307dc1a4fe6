"""Error breakdown on a hand-made two-frame KITTI-STEP sequence."""
import os

import numpy as np
import pytest

from video_knet_jax.evaluation import score_folders, track_errors
from video_knet_jax.inference import kitti_step_png

ROAD, PERSON, CAR = 0, 11, 13


def _frame(car_id, person_id):
  """[4, 8] semantic and ids: a car (2x3 px) left, a person (2x2 px) right, road elsewhere."""
  sem = np.full((4, 8), ROAD)
  ids = np.zeros((4, 8), np.int64)
  if car_id is not None:
    sem[1:3, 0:3], ids[1:3, 0:3] = CAR, car_id
  if person_id is not None:
    sem[1:3, 5:7], ids[1:3, 5:7] = PERSON, person_id
  return sem, ids


def _write(root, frames):
  for f, (sem, ids) in enumerate(frames):
    kitti_step_png.write_kitti_step_png(os.path.join(root, "0003", f"{f:06d}.png"), sem, ids)


@pytest.fixture
def folders(tmp_path):
  gt, pred = str(tmp_path / "gt"), str(tmp_path / "pred")
  _write(gt, [_frame(1, 2), _frame(1, 2)])
  # Frame 1: the car's id switches 5 -> 6 and the person is predicted as road.
  _write(pred, [_frame(5, 7), _frame(6, None)])
  return gt, pred


def test_counts_and_oracle_aq_match_hand_computation(folders):
  result = track_errors.analyse(*folders)
  # AQ per track = sum_p TPA(p, g) * IoU(p, g) / |g|, averaged over tracks.
  # Car (6 px per frame): ids 5 and 6 each hold one frame: (6 * 0.5 + 6 * 0.5) / 12 = 0.5.
  # Person (4 px per frame): id 7 holds frame 0 only: 4 * (4 / 8) / 8 = 0.25.
  assert result["scored"]["AQ"] == pytest.approx((0.5 + 0.25) / 2)
  # Oracle ids join the car's two segments into one track (AQ 1); the person
  # miss is a segmentation error and stays.
  assert result["oracle_ids"]["AQ"] == pytest.approx((1.0 + 0.25) / 2)
  assert result["oracle_ids"]["IoU"] == result["scored"]["IoU"]
  assert result["per_frame"] == {
      "kept": 0, "switched": 1, "first_seen": 2, "missed": 1, "shared": 0, "shared_by_class": {},
      "missed_predicted_as": {ROAD: 1},
      # Car 6 px, person 4 px: both in the smallest bin; the person missed once.
      "missed_of_total_by_class_and_area": {PERSON: {"<100": [1, 2]}, CAR: {"<100": [0, 2]}}}


def test_one_segment_over_two_instances_counts_both_as_shared():
  divisor = 1000
  people = np.zeros((20, 20), np.int64)
  people[:, :5], people[:, 10:15] = PERSON * divisor + 1, PERSON * divisor + 2   # 100 px each
  car = np.zeros((20, 20), np.int64)
  car[:15, 15:] = CAR * divisor + 3                                              # 75 px
  gt = people + car
  pred = np.where(people > 0, PERSON * divisor + 9, 0) + car    # one segment, both people.
  errors = track_errors.TrackErrors()
  errors.update(gt, pred, sequence=0, divisor=divisor)
  result = errors.result()
  assert result["shared"] == 2 and result["shared_by_class"] == {PERSON: 2}
  assert result["missed"] == 0 and result["first_seen"] == 3
  assert result["missed_of_total_by_class_and_area"] == {
      PERSON: {"100-300": [0, 2]}, CAR: {"<100": [0, 1]}}


def test_area_bins_are_half_open():
  assert [track_errors.area_bin(a) for a in (0, 99, 100, 299, 300, 2999, 3000, 10**6)] == [
      "<100", "<100", "100-300", "100-300", "300-1000", "1000-3000", ">=3000", ">=3000"]


def test_oracle_ids_keep_unmatched_segments_distinct():
  divisor = 1000
  gt = np.array([[CAR * divisor + 1, CAR * divisor + 1, ROAD * divisor, ROAD * divisor]])
  pred = np.array([[CAR * divisor + 4, CAR * divisor + 4, CAR * divisor + 9, PERSON * divisor + 3]])
  out = track_errors.oracle_ids(gt, pred, divisor)
  assert out[0, 0] == out[0, 1] == CAR * divisor + 1
  # No same-class instance under them: still things, with ids no GT instance uses.
  assert out[0, 2] // divisor == CAR and out[0, 2] not in gt
  assert out[0, 3] // divisor == PERSON and out[0, 3] % divisor > 0
  assert out[0, 2] != out[0, 0]


def test_missing_prediction_names_the_frame(folders):
  gt, pred = folders
  os.remove(os.path.join(pred, "0003", "000001.png"))
  with pytest.raises(score_folders.ScoringError, match="sequence 3 frame 1"):
    track_errors.analyse(gt, pred)
  assert track_errors.main(["--groundtruth", gt, "--predictions", pred]) == 2
