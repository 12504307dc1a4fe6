"""Per-frame losses: hand-computed targets and a torch/scipy reference."""
import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from video_knet_jax import common
from video_knet_jax.losses import matching
from video_knet_jax.losses import segmentation_loss

_CFG_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "configs",
                         "kitti_step.py")


def small_config():
  spec = importlib.util.spec_from_file_location("kitti_step_cfg", _CFG_PATH)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  cfg = mod.get_config("debug")
  cfg.model.num_proposals = 6
  cfg.model.num_stuff_classes = 3
  cfg.model.num_stages = 2
  cfg.loss.stage_weights = (1.0, 0.5)
  return cfg


def random_frame(rng, cfg, b=2, m=4, hw=(32, 48), embed=8):
  """Random outputs [B, ...] and one frame's targets (some GT padded)."""
  p, ns = cfg.model.num_proposals, cfg.model.num_stuff_classes
  nc, st = cfg.model.num_thing_classes + ns, cfg.model.num_stages
  h, w = hw[0] // 8, hw[1] // 8
  f32 = lambda *s: (rng.normal(size=s) * 2).astype(np.float32)
  outputs = {
      common.RPN_MASK_LOGITS: f32(b, p, h, w),
      common.RPN_SEG_LOGITS: f32(b, nc, h, w),
      common.STAGE_MASK_LOGITS: f32(st, b, p + ns, h, w),
      common.STAGE_CLS_LOGITS: f32(st, b, p + ns, nc),
      common.TRACK_EMBEDDINGS: f32(b, p, embed),
  }
  valid = np.zeros((b, m), bool)
  for i in range(b):
    valid[i, :rng.integers(1, m + 1)] = True
  blobs = rng.random((b, m, *hw)) > 0.75
  targets = {
      common.THING_MASKS: (blobs & valid[..., None, None]).astype(np.uint8),
      common.THING_CLASSES: np.where(valid, rng.integers(
          0, cfg.model.num_thing_classes, (b, m)), 0).astype(np.int32),
      common.THING_IDS: rng.permutation(100)[:b * m].reshape(b, m),
      common.THING_VALID: valid,
      common.STUFF_MASKS: (rng.random((b, ns, *hw)) > 0.8).astype(np.uint8),
      common.STUFF_VALID: rng.random((b, ns)) > 0.4,
  }
  targets[common.STUFF_MASKS] *= targets[common.STUFF_VALID][
      ..., None, None].astype(np.uint8)
  return outputs, targets


def test_stage_targets_hand_computed():
  tg = segmentation_loss.FrameTargets(
      thing_masks=jnp.arange(2 * 4, dtype=jnp.float32).reshape(1, 2, 2, 2),
      thing_labels=jnp.array([[0, 1]]), thing_valid=jnp.array([[True, True]]),
      stuff_masks=jnp.full((1, 2, 2, 2), 7.0),
      stuff_valid=jnp.array([[False, True]]))
  a = matching.Assignment(jnp.array([[1, -1, 0]]), jnp.array([[2, 0]]))
  st = segmentation_loss.stage_targets(a, tg, num_thing=2)
  np.testing.assert_array_equal(st.labels, [[1, 4, 0, 4, 3]])
  np.testing.assert_array_equal(st.positive, [[1, 0, 1, 0, 1]])
  np.testing.assert_array_equal(st.label_weights[0], [
      [1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
  np.testing.assert_array_equal(st.mask_targets[0, 0], tg.thing_masks[0, 1])
  np.testing.assert_array_equal(st.mask_targets[0, 2], tg.thing_masks[0, 0])
  np.testing.assert_array_equal(st.mask_targets[0, 4], tg.stuff_masks[0, 1])


def test_rank_and_semantic_labels_later_rows_win():
  # Row 0 covers the left column, row 2 the top row (overlap at (0, 0));
  # row 1 is not positive. Stuff 0 covers everything, stuff 1 the bottom row.
  masks = jnp.array([[[[0.5, 0], [1, 0]], [[1, 1], [1, 1]],
                      [[0.2, 1], [0, 0]]]])
  positive = jnp.array([[True, False, True]])
  np.testing.assert_array_equal(
      segmentation_loss.rank_labels(masks, positive, -1), [[[2, 2], [0, -1]]])
  tg = segmentation_loss.FrameTargets(
      thing_masks=None, thing_labels=None, thing_valid=None,
      stuff_masks=jnp.array([[[[1., 1], [1, 1]], [[0, 0], [0.3, 1]]]]),
      stuff_valid=jnp.array([[True, True]]))
  sem = segmentation_loss.semantic_labels(
      tg, masks, jnp.array([[0, 0, 1]]), positive, num_thing=2,
      ignore_index=4)
  np.testing.assert_array_equal(sem, [[[1, 1], [0, 3]]])
  tg = tg._replace(stuff_valid=jnp.array([[False, False]]))
  sem = segmentation_loss.semantic_labels(
      tg, masks, jnp.array([[0, 0, 1]]), positive, num_thing=2,
      ignore_index=4)
  np.testing.assert_array_equal(sem, [[[1, 1], [0, 4]]])


# ---------------------------------------------------------------------------
# Independent torch + scipy reference of one frame (dynamic shapes, loops).
# ---------------------------------------------------------------------------
def _t(x):
  return torch.from_numpy(np.asarray(x, np.float32))


def _ref_assign(masks, cls, gm, gl, cfg):
  lc = cfg.loss
  if len(gm) == 0:
    return np.zeros(0, int), np.zeros(0, int)
  cost = np.asarray(matching.match_cost(
      masks.numpy(), None if cls is None else cls.numpy(), gm.numpy(), gl,
      np.ones(len(gl), bool), cls_weight=lc.match_cls,
      dice_weight=lc.match_dice, mask_weight=lc.match_mask,
      alpha=lc.focal_alpha, gamma=lc.focal_gamma))
  rows, cols = linear_sum_assignment(cost)
  order = np.argsort(rows)
  return rows[order], cols[order]


def _dice(p_logits, t):
  p = torch.sigmoid(p_logits).flatten(1)
  t = t.flatten(1)
  return 1 - 2 * (p * t).sum(1) / ((p * p).sum(1) + 1e-3 + (t * t).sum(1) +
                                   1e-3)


def reference_frame(outputs, targets, cfg):
  lc, m = cfg.loss, cfg.model
  nt, p = m.num_thing_classes, m.num_proposals
  down = lambda x: F.interpolate(_t(x), scale_factor=0.5, mode="bilinear",
                                 align_corners=False)
  up = lambda x: F.interpolate(_t(x), scale_factor=4, mode="bilinear",
                               align_corners=False)
  things, stuff = down(targets[common.THING_MASKS]), down(
      targets[common.STUFF_MASKS])
  rpn, seg = up(outputs[common.RPN_MASK_LOGITS]), up(
      outputs[common.RPN_SEG_LOGITS])
  b, nc = seg.shape[:2]
  hh, ww = rpn.shape[-2:]
  res = {}
  gts = []
  for i in range(b):
    v = targets[common.THING_VALID][i]
    gts.append((things[i][v], targets[common.THING_CLASSES][i][v]))
  # RPN.
  mask_l, dice_l = [], []
  rank = torch.full((b, hh, ww), 255, dtype=torch.long)
  segt = torch.full((b, hh, ww), nc, dtype=torch.long)
  for i in range(b):
    gm, gl = gts[i]
    rows, cols = _ref_assign(rpn[i], None, gm, gl, cfg)
    for j in range(stuff.shape[1]):
      if targets[common.STUFF_VALID][i, j]:
        segt[i][stuff[i, j] > 0] = nt + j
    for r, c in zip(rows, cols):
      rank[i][gm[c] > 0] = int(r)
      segt[i][gm[c] > 0] = int(gl[c])
    if len(rows):
      mask_l.append(F.binary_cross_entropy_with_logits(rpn[i][rows], gm[cols]))
      dice_l.append(_dice(rpn[i][rows], gm[cols]).mean())
    else:
      mask_l.append(torch.tensor(0.))
      dice_l.append(torch.tensor(0.))
  res["rpn_loss_mask"] = lc.rpn_mask * torch.stack(mask_l).mean()
  res["rpn_loss_dice"] = lc.rpn_dice * torch.stack(dice_l).mean()
  res["rpn_loss_rank"] = lc.rpn_rank * F.cross_entropy(
      rpn, rank, ignore_index=255, reduction="none").sum() / rank.numel()
  res["rpn_loss_seg"] = lc.rpn_seg * F.cross_entropy(
      seg, segt, ignore_index=nc, reduction="none").sum() / segt.numel()
  # Stages.
  prev_m, prev_c = rpn, None
  for s in range(outputs[common.STAGE_MASK_LOGITS].shape[0]):
    sm = up(outputs[common.STAGE_MASK_LOGITS][s])
    sc = _t(outputs[common.STAGE_CLS_LOGITS][s])
    focal_sum, num_pos, mask_l, dice_l = 0., 0., [], []
    for i in range(b):
      gm, gl = gts[i]
      rows, cols = _ref_assign(prev_m[i][:p], None if prev_c is None else
                               prev_c[i][:p, :nt], gm, gl, cfg)
      labels = torch.full((sc.shape[1],), nc, dtype=torch.long)
      weights = torch.zeros(sc.shape[1], nc)
      weights[:p, :nt] = 1
      tmask = torch.zeros_like(sm[i])
      for r, c in zip(rows, cols):
        labels[r] = int(gl[c])
        tmask[r] = gm[c]
      for j in range(stuff.shape[1]):
        weights[p + j, nt + j] = 1
        if targets[common.STUFF_VALID][i, j]:
          labels[p + j] = nt + j
          tmask[p + j] = stuff[i, j]
      pos = labels < nc
      onehot = F.one_hot(labels, nc + 1)[:, :nc].float()
      prob = torch.sigmoid(sc[i])
      pt = (1 - prob) * onehot + prob * (1 - onehot)
      fw = (lc.focal_alpha * onehot + (1 - lc.focal_alpha) *
            (1 - onehot)) * pt.pow(lc.focal_gamma)
      focal_sum += (F.binary_cross_entropy_with_logits(
          sc[i], onehot, reduction="none") * fw * weights).sum()
      num_pos += float(pos.sum())
      if pos.any():
        mask_l.append(F.binary_cross_entropy_with_logits(sm[i][pos],
                                                         tmask[pos]))
        dice_l.append(_dice(sm[i][pos], tmask[pos]).mean())
      else:
        mask_l.append(torch.tensor(0.))
        dice_l.append(torch.tensor(0.))
    w = lc.stage_weights[s]
    res[f"s{s}_loss_cls"] = w * lc.cls * focal_sum / b / max(num_pos / b, 1.)
    res[f"s{s}_loss_mask"] = w * lc.mask * torch.stack(mask_l).mean()
    res[f"s{s}_loss_dice"] = w * lc.dice * torch.stack(dice_l).mean()
    prev_m, prev_c = sm, sc
  return {k: float(v) for k, v in res.items()}


@pytest.mark.torch
def test_frame_losses_match_torch_reference():
  cfg = small_config()
  rng = np.random.default_rng(0)
  outputs, targets = random_frame(rng, cfg, b=3)
  targets[common.THING_VALID][2] = False  # an image without things.
  targets[common.THING_MASKS][2] = 0
  total, metrics, track = jax.jit(
      lambda o, t: segmentation_loss.frame_losses(o, t, cfg))(outputs, targets)
  ref = reference_frame(outputs, targets, cfg)
  for k, v in ref.items():
    np.testing.assert_allclose(metrics[k], v, rtol=2e-4, atol=1e-6, err_msg=k)
  losses = {k for k in metrics if "loss" in k}
  assert losses == set(ref)
  np.testing.assert_allclose(total, sum(ref.values()), rtol=2e-4)
  for s in range(cfg.model.num_stages):
    assert 0 <= float(metrics[f"s{s}_pos_acc"]) <= 100
  # Post-assignment on the final stage's own predictions.
  up = lambda x: F.interpolate(_t(x), scale_factor=4, mode="bilinear",
                               align_corners=False)
  last_m = up(outputs[common.STAGE_MASK_LOGITS][-1])
  last_c = _t(outputs[common.STAGE_CLS_LOGITS][-1])
  things = F.interpolate(_t(targets[common.THING_MASKS]), scale_factor=0.5,
                         mode="bilinear", align_corners=False)
  p, nt = cfg.model.num_proposals, cfg.model.num_thing_classes
  for i in range(3):
    v = targets[common.THING_VALID][i]
    rows, cols = _ref_assign(last_m[i][:p], last_c[i][:p, :nt], things[i][v],
                             targets[common.THING_CLASSES][i][v], cfg)
    expect = -np.ones(p, int)
    expect[rows] = np.flatnonzero(v)[cols]
    np.testing.assert_array_equal(track.pred_to_gt[i], expect)


def test_frame_losses_shape_errors():
  cfg = small_config()
  outputs, targets = random_frame(np.random.default_rng(1), cfg)
  bad = dict(outputs)
  bad[common.STAGE_MASK_LOGITS] = outputs[common.STAGE_MASK_LOGITS][:, :, :-1]
  with pytest.raises(ValueError, match="P \\+ num_stuff"):
    segmentation_loss.frame_losses(bad, targets, cfg)
  cfg.loss.stage_weights = (1.0,)
  with pytest.raises(ValueError, match="stage_weights"):
    segmentation_loss.frame_losses(outputs, targets, cfg)
  cfg = small_config()
  cfg.loss.mask_assign_stride = 4
  with pytest.raises(ValueError, match="mask_assign_stride"):
    segmentation_loss.frame_losses(outputs, targets, cfg)


def test_minimising_frame_losses_over_free_logits():
  cfg = small_config()
  outputs, targets = random_frame(np.random.default_rng(2), cfg)
  params = {k: v for k, v in outputs.items() if k != common.TRACK_EMBEDDINGS}
  loss_fn = lambda o: segmentation_loss.frame_losses(o, targets, cfg)[0]
  opt = optax.adam(0.1)

  @jax.jit
  def step(params, state):
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, state = opt.update(grads, state)
    return optax.apply_updates(params, updates), state, loss

  state = opt.init(params)
  losses = []
  for _ in range(30):
    params, state, loss = step(params, state)
    losses.append(float(loss))
  assert np.all(np.isfinite(losses))
  assert losses[-1] < 0.5 * losses[0], losses
