"""QDTrack's IoU sampler on a small hand-made case, and its use in the loss."""
import jax.numpy as jnp
import numpy as np

from video_knet_jax.losses import qdtrack_sampling
from video_knet_jax.losses import tracking_loss


def test_mask_iou_by_hand():
  # Proposals (logits > 0 = inside) and GTs on 1 x 4 pixels.
  logits = jnp.asarray([[[5, 5, -5, -5]], [[5, 5, 5, -5]], [[-5, -5, -5, -5]]], jnp.float32)
  gts = jnp.asarray([[[1, 1, 0, 0]], [[0, 0.6, 1, 0.4]]], jnp.float32)   # soft: >= 0.5 inside.
  iou = np.asarray(qdtrack_sampling.mask_iou(logits, gts))
  np.testing.assert_allclose(iou, [[1.0, 1 / 3], [2 / 3, 2 / 3], [0.0, 0.0]], rtol=1e-6)


def test_positive_and_negative_sets_by_hand():
  # 8 proposals x 3 GTs (the last is padding and must be ignored).
  iou = jnp.asarray([
      [0.90, 0.10, 0.95],   # 0: positive of GT 0 (the padded 0.95 does not count).
      [0.75, 0.20, 0.00],   # 1: positive of GT 0 too (quasi-dense: several per GT).
      [0.20, 0.70, 0.00],   # 2: positive of GT 1 (>= 0.7).
      [0.60, 0.10, 0.00],   # 3: in [0.5, 0.7): neither.
      [0.45, 0.30, 0.00],   # 4: negative, best IoU 0.45.
      [0.10, 0.49, 0.00],   # 5: negative, best IoU 0.49.
      [0.00, 0.00, 0.00],   # 6: negative, best IoU 0.
      [0.30, 0.05, 0.00],   # 7: negative, best IoU 0.30.
  ])
  valid = jnp.asarray([True, True, False])
  out = qdtrack_sampling.sample(iou, valid, pos_iou_thr=0.7, neg_iou_thr=0.5, neg_pos_ub=3)
  assert np.asarray(out.pred_to_gt).tolist() == [0, 0, 1, -1, -1, -1, -1, -1]
  # 3 positives -> at most 9 negatives: all four kept.
  assert np.asarray(out.negative).tolist() == [False] * 4 + [True] * 4
  # neg_pos_ub 1 with 3 positives caps at 3: the three hardest (0.49, 0.45, 0.30).
  capped = qdtrack_sampling.sample(iou, valid, pos_iou_thr=0.7, neg_iou_thr=0.5, neg_pos_ub=1)
  assert np.asarray(capped.negative).tolist() == [False] * 4 + [True, True, False, True]


def test_no_positive_keeps_neg_pos_ub_negatives_and_no_gt_is_all_negative():
  iou = jnp.asarray([[0.1], [0.3], [0.2], [0.0], [0.4]])
  out = qdtrack_sampling.sample(iou, jnp.asarray([True]), pos_iou_thr=0.7, neg_iou_thr=0.5,
                                neg_pos_ub=3)
  assert np.asarray(out.pred_to_gt).tolist() == [-1] * 5
  assert np.asarray(out.negative).tolist() == [False, True, True, False, True]  # max(#pos, 1) * 3.
  none = qdtrack_sampling.sample(iou, jnp.asarray([False]), pos_iou_thr=0.7, neg_iou_thr=0.5,
                                 neg_pos_ub=10)
  assert np.asarray(none.negative).all()


def test_sampled_negatives_become_negative_columns():
  key_to_gt = jnp.asarray([0, 1, -1])
  ref_to_gt = jnp.asarray([1, -1, 0])
  ids = jnp.asarray([7, 9])
  targets, valid = tracking_loss.track_pair_targets(key_to_gt, ref_to_gt, ids, ids)
  with_neg_targets, with_neg = tracking_loss.track_pair_targets(
      key_to_gt, ref_to_gt, ids, ids, jnp.asarray([False, True, False]))
  np.testing.assert_array_equal(with_neg_targets, targets)            # negatives never match.
  np.testing.assert_array_equal(np.asarray(valid)[:, [0, 2]], np.asarray(with_neg)[:, [0, 2]])
  assert np.asarray(with_neg)[:, 1].tolist() == [True, True, False]   # key rows: positives only.
  assert not np.asarray(valid)[:, 1].any()
