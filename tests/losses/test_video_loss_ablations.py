"""The loss switches: key-frame-only training, QDTrack sampling, mask embeddings."""
import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.losses.test_video_loss import _clip
from tests.losses.test_video_loss import _helpers
from video_knet_jax import common
from video_knet_jax.losses import qdtrack_sampling
from video_knet_jax.losses import tracking_loss
from video_knet_jax.losses import video_loss


_COMPILED = {}


def _loss(cfg, outputs, batch):
  """The jitted clip loss of `cfg` (one compilation per distinct config)."""
  key = cfg.to_json()
  if key not in _COMPILED:
    _COMPILED[key] = jax.jit(lambda o, b: video_loss.video_knet_loss(o, b, cfg))
  return _COMPILED[key](outputs, batch)


@pytest.fixture(scope="module")
def clip():
  cfg = _helpers().small_config()
  outputs, batch, key_t, ref_t = _clip(cfg, np.random.default_rng(0))
  return cfg, outputs, batch, key_t, ref_t


@pytest.fixture(scope="module")
def joint(clip):
  cfg, outputs, batch, _, _ = clip
  return _loss(cfg, outputs, batch)


def test_key_frame_only_has_no_reference_terms(clip, joint):
  cfg, outputs, batch, _, _ = clip
  key_only = copy.deepcopy(cfg)
  key_only.loss.key_frame_only = True
  total, metrics = _loss(key_only, outputs, batch)
  joint_total, joint_metrics = joint
  assert not [k for k in metrics if k.endswith("_ref")]          # absent, not zero.
  assert set(metrics) == {k for k in joint_metrics if not k.endswith("_ref")}
  # Key terms and the tracking terms (same reference assignment) are unchanged;
  # the total lacks exactly the reference's segmentation losses.
  for k, v in metrics.items():
    if k != common.LOSS_TOTAL:
      np.testing.assert_allclose(v, joint_metrics[k], rtol=1e-5, err_msg=k)
  ref_terms = sum(float(v) for k, v in joint_metrics.items() if k.endswith("_ref") and "loss" in k)
  np.testing.assert_allclose(total, float(joint_total) - ref_terms, rtol=1e-5)


RECTS = ((slice(0, 16), slice(0, 16)), (slice(16, 32), slice(16, 32)),
         (slice(0, 16), slice(32, 48)))   # GT 0, 1, 2 on the 32 x 48 frames (8-px aligned).


def _with_rect_objects(outputs, targets, proposal_to_rect):
  """GT masks = RECTS; the final stage's masks of the given proposals equal them."""
  outputs, targets = copy.deepcopy(outputs), copy.deepcopy(targets)
  masks = np.zeros_like(targets[common.THING_MASKS])
  for g, (rows, cols) in enumerate(RECTS):
    masks[:, g, rows, cols] = 1
  targets[common.THING_MASKS] = masks
  stage = outputs[common.STAGE_MASK_LOGITS]
  for p, g in proposal_to_rect.items():
    rows, cols = RECTS[g]
    block = np.full(stage.shape[-2:], -10.0, np.float32)
    block[rows.start // 8:rows.stop // 8, cols.start // 8:cols.stop // 8] = 10.0
    stage[-1, :, p] = block
  return outputs, targets


def test_qdtrack_sampling_pairs_the_iou_sampled_proposals(clip):
  cfg, outputs, batch, key_t, ref_t = clip
  key_out, key_t = _with_rect_objects(outputs[0], key_t, {0: 0, 1: 0, 2: 1})
  ref_out, ref_t = _with_rect_objects(outputs[1], ref_t, {0: 0, 4: 2})
  outputs = [key_out, ref_out]
  batch = {k: np.stack([key_t[k], ref_t[k]], axis=1) for k in key_t}
  qd = copy.deepcopy(cfg)
  qd.loss.association_sampling = "qdtrack"
  _, metrics = _loss(qd, outputs, batch)
  _, joint_metrics = _loss(cfg, outputs, batch)
  key_s = qdtrack_sampling.frame_sample(outputs[0], key_t, qd)
  ref_s = qdtrack_sampling.frame_sample(outputs[1], ref_t, qd)
  # Two key proposals cover GT 0 exactly (quasi-dense positives), one GT 1.
  assert np.asarray(key_s.pred_to_gt)[:, :3].tolist() == [[0, 0, 1]] * 2
  assert np.asarray(ref_s.pred_to_gt)[:, [0, 4]].tolist() == [[0, 2]] * 2
  assert np.asarray(ref_s.negative).any()
  lc = qd.loss
  track, aux = tracking_loss.tracking_losses(
      outputs[0][common.TRACK_EMBEDDINGS], outputs[1][common.TRACK_EMBEDDINGS],
      key_s.pred_to_gt, ref_s.pred_to_gt, key_t[common.THING_IDS], ref_t[common.THING_IDS],
      pos_margin=lc.track_aux_pos_margin, neg_margin=lc.track_aux_neg_margin,
      neg_pos_ub=lc.track_aux_neg_pos_ub, ref_negatives=ref_s.negative)
  np.testing.assert_allclose(metrics["loss_track"], lc.track * track, rtol=1e-5)
  np.testing.assert_allclose(metrics["loss_track_aux"], lc.track_aux * aux, rtol=1e-5)
  assert abs(float(metrics["loss_track"]) - float(joint_metrics["loss_track"])) > 1e-4
  for k in joint_metrics:              # segmentation terms do not depend on the sampling.
    if "track" not in k and k != common.LOSS_TOTAL:
      np.testing.assert_allclose(metrics[k], joint_metrics[k], rtol=1e-5, err_msg=k)


def test_proposals_take_their_gt_masks_embedding():
  pred_to_gt = jnp.asarray([[2, -1, 0]])
  per_gt = jnp.arange(3 * 2, dtype=jnp.float32).reshape(1, 3, 2)           # [B, M, E].
  np.testing.assert_array_equal(
      video_loss.proposal_embeddings({common.MASK_TRACK_EMBEDDINGS: per_gt}, pred_to_gt),
      [[[4, 5], [0, 1], [0, 1]]])
  pairs = jnp.arange(3 * 3 * 2, dtype=jnp.float32).reshape(1, 3, 3, 2)    # [B, P, M, E].
  np.testing.assert_array_equal(
      video_loss.proposal_embeddings({common.MASK_TRACK_EMBEDDINGS: pairs}, pred_to_gt),
      [[pairs[0, 0, 2], pairs[0, 1, 0], pairs[0, 2, 0]]])
  with pytest.raises(KeyError, match="thing_masks"):
    video_loss.proposal_embeddings({}, pred_to_gt)


def test_bad_sampling_name_is_an_error(clip):
  cfg, outputs, batch, _, _ = clip
  bad = copy.deepcopy(cfg)
  bad.loss.association_sampling = "random"
  with pytest.raises(ValueError, match="association_sampling='random'"):
    video_loss.video_knet_loss(outputs, batch, bad)
