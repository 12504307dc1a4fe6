"""The restructured per-frame losses equal the frozen formulas of 777bb3c.

Issue 30 rewrote how `segmentation_loss.frame_losses` computes the same
numbers (costs upsampled band by band, mask losses on the matched rows only,
labels from the GT masks in GT order). `frozen_frame_losses.py` keeps the
formulas as they were; losses must agree to 1e-6 relative and gradients to
the same precision on random inputs of several shapes.
"""
import importlib.util
import os

import jax
import numpy as np
import pytest

from video_knet_jax import common
from video_knet_jax.losses import matching
from video_knet_jax.losses import resampling
from video_knet_jax.losses import segmentation_loss

_HERE = os.path.dirname(__file__)


def _load(name):
  spec = importlib.util.spec_from_file_location(
      name, os.path.join(_HERE, f"{name}.py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


frozen = _load("frozen_frame_losses")
helpers = _load("test_segmentation_loss")


def _config(rank: float, num_stages: int):
  cfg = helpers.small_config()
  cfg.model.num_proposals = 20
  cfg.model.num_stuff_classes = 5
  cfg.model.num_stages = num_stages
  cfg.loss.stage_weights = (1.0, 0.5, 0.8)[:num_stages]
  cfg.loss.rank = rank
  return cfg


def test_frame_losses_equal_frozen():
  # The stage rank loss (image recipe) on: every path of frame_losses runs.
  cfg = _config(rank=0.1, num_stages=2)
  outputs, targets = helpers.random_frame(np.random.default_rng(3), cfg, b=2,
                                          m=8, hw=(48, 80))
  targets[common.THING_VALID][1, 2:] = False   # padded GT rows.
  targets[common.THING_MASKS][1, 2:] = 0

  def both(fn):
    def loss(o):
      total, metrics, track = fn(o, targets, cfg)
      return total, (metrics, track)
    return jax.jit(jax.value_and_grad(loss, has_aux=True))(outputs)

  (new_total, (new_m, new_track)), new_grad = both(
      segmentation_loss.frame_losses)
  (old_total, (old_m, old_track)), old_grad = both(frozen.frame_losses)
  assert set(new_m) == set(old_m)
  for k in old_m:
    np.testing.assert_allclose(new_m[k], old_m[k], rtol=1e-6, atol=1e-7,
                               err_msg=k)
  np.testing.assert_allclose(new_total, old_total, rtol=1e-6)
  np.testing.assert_array_equal(new_track.pred_to_gt, old_track.pred_to_gt)
  for k in old_grad:
    scale = float(np.max(np.abs(old_grad[k]))) or 1.0
    np.testing.assert_allclose(new_grad[k], old_grad[k], rtol=0,
                               atol=2e-6 * scale, err_msg=k)


@pytest.mark.parametrize("h,w,factor", [(6, 10, 4), (5, 7, 2)])
def test_costs_from_low_resolution_equal_upsampled(h, w, factor):
  rng = np.random.default_rng(factor)
  logits = rng.normal(size=(2, 9, h, w)).astype(np.float32) * 3
  gts = (rng.random((2, 4, h * factor, w * factor)) > 0.6).astype(np.float32)
  labels = np.zeros((2, 4), np.int32)
  valid = np.array([[1, 1, 1, 0], [1, 0, 0, 0]], bool)
  kw = dict(cls_weight=2., dice_weight=4., mask_weight=1., alpha=.25, gamma=2.)
  full = frozen.batch_match_cost(resampling.upsample_logits(logits, factor),
                                 None, gts, labels, valid, **kw)
  low = matching.batch_match_cost(logits, None, gts, labels, valid,
                                  upsample_factor=factor, **kw)
  # Valid columns only: padded columns cost the largest valid cost + 1 since
  # session 18 (matching.pad_columns, tested in test_matching.py), 1e5 here.
  np.testing.assert_allclose(np.where(valid[:, None], low, 0),
                             np.where(valid[:, None], full, 0), rtol=1e-6,
                             atol=1e-6)
