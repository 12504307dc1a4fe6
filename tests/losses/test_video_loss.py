"""The clip loss: key + ref segmentation losses and tracking, under jit."""
import importlib.util
import os

import jax
import numpy as np
import pytest

from video_knet_jax import common
from video_knet_jax.losses import segmentation_loss
from video_knet_jax.losses import tracking_loss
from video_knet_jax.losses import video_loss

_HERE = os.path.dirname(__file__)


def _helpers():
  spec = importlib.util.spec_from_file_location(
      "seg_test_helpers", os.path.join(_HERE, "test_segmentation_loss.py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


def _clip(cfg, rng):
  h = _helpers()
  key_out, key_t = h.random_frame(rng, cfg)
  ref_out, ref_t = h.random_frame(rng, cfg)
  # Three GTs per frame; the ref frame sees the key's instances 0 and 1
  # (same ids) plus a new one, so there are positive and negative pairs.
  for t in (key_t, ref_t):
    t[common.THING_VALID][:] = np.arange(4) < 3
    t[common.THING_MASKS][:, 3] = 0
  ref_t[common.THING_IDS][:, :2] = key_t[common.THING_IDS][:, :2]
  batch = {k: np.stack([key_t[k], ref_t[k]], axis=1) for k in key_t}
  return [key_out, ref_out], batch, key_t, ref_t


def test_video_loss_combines_frames_and_tracking():
  cfg = _helpers().small_config()
  outputs, batch, key_t, ref_t = _clip(cfg, np.random.default_rng(0))
  total, metrics = jax.jit(
      lambda o, b: video_loss.video_knet_loss(o, b, cfg))(outputs, batch)
  frame = jax.jit(lambda o, t: segmentation_loss.frame_losses(o, t, cfg))
  k_total, k_metrics, k_assign = frame(outputs[0], key_t)
  r_total, r_metrics, r_assign = frame(outputs[1], ref_t)
  for k, v in k_metrics.items():
    np.testing.assert_allclose(metrics[k], v, rtol=1e-5, err_msg=k)
    np.testing.assert_allclose(metrics[k + "_ref"], r_metrics[k], rtol=1e-5,
                               err_msg=k)
  lc = cfg.loss
  track, aux = jax.jit(tracking_loss.tracking_losses, static_argnames=(
      "pos_margin", "neg_margin", "neg_pos_ub"))(
      outputs[0][common.TRACK_EMBEDDINGS], outputs[1][common.TRACK_EMBEDDINGS],
      k_assign.pred_to_gt, r_assign.pred_to_gt, key_t[common.THING_IDS],
      ref_t[common.THING_IDS], pos_margin=lc.track_aux_pos_margin,
      neg_margin=lc.track_aux_neg_margin, neg_pos_ub=lc.track_aux_neg_pos_ub)
  assert float(track) > 0  # shared ids give positive and negative pairs.
  np.testing.assert_allclose(metrics["loss_track"], lc.track * track,
                             rtol=1e-5)
  np.testing.assert_allclose(metrics["loss_track_aux"], lc.track_aux * aux,
                             rtol=1e-5)
  parts = sum(float(v) for k, v in metrics.items()
              if "loss" in k and k != common.LOSS_TOTAL)
  np.testing.assert_allclose(total, parts, rtol=1e-5)
  np.testing.assert_allclose(metrics[common.LOSS_TOTAL], total)
  np.testing.assert_allclose(
      total, k_total + r_total + lc.track * track + lc.track_aux * aux,
      rtol=1e-5)
  assert "s1_pos_acc_ref" in metrics and "rpn_loss_seg_ref" in metrics


def test_video_loss_rejects_bad_clip():
  cfg = _helpers().small_config()
  outputs, batch, _, _ = _clip(cfg, np.random.default_rng(1))
  with pytest.raises(ValueError, match="num_refs"):
    video_loss.video_knet_loss(outputs[:1], batch, cfg)


def test_full_size_recipe_traces():
  """The paper-size recipe (P=100, 17 stuff, 3 stages, 384x1248) traces."""
  spec = importlib.util.spec_from_file_location(
      "kitti_step_full", os.path.join(_HERE, "..", "..", "configs",
                                      "kitti_step.py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  cfg = mod.get_config()
  m = cfg.model
  b, t, mi = 1, 2, cfg.data.max_instances
  hh, ww = cfg.data.crop_size
  p, ns, st = m.num_proposals, m.num_stuff_classes, m.num_stages
  nc = m.num_thing_classes + ns
  sds = jax.ShapeDtypeStruct
  f32 = lambda *s: sds(s, np.float32)
  out = {common.RPN_MASK_LOGITS: f32(b, p, hh // 8, ww // 8),
         common.RPN_SEG_LOGITS: f32(b, nc, hh // 8, ww // 8),
         common.STAGE_MASK_LOGITS: f32(st, b, p + ns, hh // 8, ww // 8),
         common.STAGE_CLS_LOGITS: f32(st, b, p + ns, nc),
         common.TRACK_EMBEDDINGS: f32(b, p, m.temporal.embed_channels)}
  batch = {common.THING_MASKS: sds((b, t, mi, hh, ww), np.uint8),
           common.THING_CLASSES: sds((b, t, mi), np.int32),
           common.THING_IDS: sds((b, t, mi), np.int32),
           common.THING_VALID: sds((b, t, mi), bool),
           common.STUFF_MASKS: sds((b, t, ns, hh, ww), np.uint8),
           common.STUFF_VALID: sds((b, t, ns), bool)}
  total, metrics = jax.eval_shape(
      lambda o, bt: video_loss.video_knet_loss(o, bt, cfg), [out, out], batch)
  assert total.shape == () and metrics["s2_loss_dice_ref"].shape == ()
  assert len([k for k in metrics if "loss" in k]) == 2 * (4 + 3 * st) + 3
