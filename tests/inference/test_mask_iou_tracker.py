"""Mask-IoU association baseline on hand-made masks."""
import numpy as np
import jax
import jax.numpy as jnp

from video_knet_jax.inference import mask_iou_tracker as mt

K, H, W = 4, 8, 12


def _frame(rects, labels, scores):
  det_map = np.full((H, W), -1, np.int32)
  for i, (y0, y1, x0, x1) in enumerate(rects):
    det_map[y0:y1, x0:x1] = i
  lab = np.zeros(K, np.int32)
  sc = np.zeros(K, np.float32)
  valid = np.zeros(K, bool)
  lab[:len(labels)], sc[:len(scores)], valid[:len(rects)] = labels, scores, True
  return det_map, lab, sc, valid


def test_mask_iou_matrix_hand_computed():
  cur = np.full((2, 4), -1, np.int32)
  prev = np.full((2, 4), -1, np.int32)
  cur[:, 0:2] = 0          # 4 pixels.
  prev[:, 1:3] = 1         # 4 pixels, 2 shared with cur 0.
  iou = np.asarray(mt.mask_iou_matrix(jnp.asarray(cur), jnp.asarray(prev), 2, 2))
  np.testing.assert_allclose(iou, [[0.0, 2 / 6], [0.0, 0.0]])


def test_greedy_mask_iou_association():
  state = mt.init_mask_iou_state(mt.MaskIouSettings(mask_iou_thr=0.5), K, (H, W))
  step = jax.jit(mt.mask_iou_tracker_step)
  # Frame 0: two cars and a low-score person (no id: below init_score_thr).
  state, ids = step(state, *_frame([(0, 4, 0, 4), (0, 4, 6, 10), (5, 8, 0, 3)],
                                   [1, 1, 0], [0.9, 0.8, 0.3]), 0)
  assert np.asarray(ids).tolist() == [1, 2, 0, 0]
  # Frame 1: both cars move one pixel right (IoU 12/20 = 0.6), input order swapped;
  # the person is tracked now but did not have an id before -> new id 3.
  state, ids = step(state, *_frame([(0, 4, 7, 11), (0, 4, 1, 5), (5, 8, 0, 3)],
                                   [1, 1, 0], [0.8, 0.9, 0.5]), 1)
  assert np.asarray(ids).tolist() == [2, 1, 3, 0]
  # Frame 2: car 1 jumps (IoU 0 -> new id 4); car 2 stays but is now labelled
  # a person (class mismatch -> new id 5); the person box is gone.
  state, ids = step(state, *_frame([(4, 8, 6, 10), (0, 4, 7, 11)], [1, 0], [0.9, 0.6]), 2)
  assert np.asarray(ids).tolist() == [4, 5, 0, 0]
  assert int(state.next_id) == 6


def test_overlapping_candidates_take_the_best_unclaimed_match():
  state = mt.init_mask_iou_state(mt.MaskIouSettings(mask_iou_thr=0.3), K, (H, W))
  step = jax.jit(mt.mask_iou_tracker_step)
  state, ids = step(state, *_frame([(0, 8, 0, 6)], [1], [0.9]))
  assert np.asarray(ids).tolist() == [1, 0, 0, 0]
  # The object splits: the higher-scored half claims id 1, the other half starts id 2.
  state, ids = step(state, *_frame([(0, 8, 0, 3), (0, 8, 3, 6)], [1, 1], [0.7, 0.8]))
  assert np.asarray(ids).tolist() == [2, 1, 0, 0]
