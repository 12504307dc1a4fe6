"""Per-frame targets against a hand-made 4x6 label."""
import numpy as np
import tensorflow as tf

from video_knet_jax import common
from video_knet_jax.data import targets

V = 255
# Semantic: road 0, sky 10, person 11, car 13, void 255.
SEM = np.array([
    [10, 10, 10, 10, V, V],
    [11, 11, 13, 13, 13, 10],
    [11, 11, 13, 13, 11, 11],
    [0, 0, 0, 0, 0, V],
], np.int32)
INS = np.array([
    [0, 0, 0, 0, 0, 0],
    [4, 4, 2, 2, 2, 0],
    [4, 7, 2, 2, 0, 0],     # (2,4), (2,5): crowd person pixels (instance 0).
    [0, 0, 0, 0, 0, 0],
], np.int32)


def _targets(max_instances=4, crowd_as_instance=False):
  params = targets.TargetParams(
      num_classes=19, thing_train_ids=(11, 13), ignore_label=255,
      max_instances=max_instances, panoptic_divisor=1000,
      crowd_as_instance=crowd_as_instance)
  out = targets.frame_targets(tf.constant(SEM), tf.constant(INS), params)
  return {k: v.numpy() for k, v in out.items()}


def test_targets_match_the_hand_made_label():
  t = _targets()
  # Instances sorted by panoptic id: 11004 (3 px), 11007 (1 px), 13002 (5 px).
  np.testing.assert_array_equal(t[common.THING_IDS], [11004, 11007, 13002, 0])
  np.testing.assert_array_equal(t[common.THING_CLASSES], [0, 0, 1, 0])
  np.testing.assert_array_equal(t[common.THING_VALID], [1, 1, 1, 0])
  person4 = np.zeros((4, 6), np.uint8)
  person4[1, 0] = person4[1, 1] = person4[2, 0] = 1
  person7 = np.zeros((4, 6), np.uint8)
  person7[2, 1] = 1
  car2 = np.zeros((4, 6), np.uint8)
  car2[1, 2:5] = car2[2, 2:4] = 1
  expected = np.stack([person4, person7, car2, np.zeros((4, 6), np.uint8)])
  np.testing.assert_array_equal(t[common.THING_MASKS], expected)
  assert t[common.THING_MASKS].dtype == np.uint8

  stuff_ids = [c for c in range(19) if c not in (11, 13)]
  assert t[common.STUFF_MASKS].shape == (17, 4, 6)
  np.testing.assert_array_equal(
      t[common.STUFF_VALID], [c in (0, 10) for c in stuff_ids])
  np.testing.assert_array_equal(t[common.STUFF_MASKS][stuff_ids.index(0)],
                                (SEM == 0).astype(np.uint8))
  np.testing.assert_array_equal(t[common.STUFF_MASKS][stuff_ids.index(10)],
                                (SEM == 10).astype(np.uint8))
  np.testing.assert_array_equal(t[common.VOID_MASK], SEM == V)
  np.testing.assert_array_equal(t[common.SEMANTIC], SEM)   # crowd keeps class.


def test_crowd_as_instance_follows_the_original():
  t = _targets(crowd_as_instance=True)
  np.testing.assert_array_equal(t[common.THING_IDS], [11000, 11004, 11007, 13002])
  np.testing.assert_array_equal(t[common.THING_MASKS][0][2, 4:], [1, 1])
  assert t[common.THING_MASKS][0].sum() == 2


def test_too_many_instances_keep_the_largest():
  t = _targets(max_instances=2)
  np.testing.assert_array_equal(t[common.THING_IDS], [11004, 13002])
  np.testing.assert_array_equal(t[common.THING_VALID], [1, 1])
  np.testing.assert_array_equal(t[common.THING_CLASSES], [0, 1])
