"""Video Hungarian assignment on clip tubes (hand-computed) and the clip loss."""
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from video_knet_jax.losses import clip_loss

from video_knet_jax.configs import youtube_vis

L3 = math.log(3.0)   # sigmoid(L3) = 0.75, sigmoid(-L3) = 0.25.


def _loss_config():
  return ml_collections.ConfigDict(dict(
      match_cls=2.0, match_dice=4.0, match_mask=1.0, focal_alpha=0.25,
      focal_gamma=2.0))


def _hand_case():
  """T=2 frames of 1x2 pixels; tube pixels (f0p0, f0p1, f1p0, f1p1).

  GT A = (1, 1, 0, 0) (absent on frame 1), GT B = (0, 0, 1, 0) (absent on
  frame 0), one padded GT. sigmoid(predictions):
    pred0 = (.25, .25, .75, .25), pred1 = (.75, .75, .25, .25),
    pred2 = (.75, .75, .75, .25).
  """
  probs = np.array([[.25, .25, .75, .25], [.75, .75, .25, .25],
                    [.75, .75, .75, .25]])
  logits = np.where(probs > .5, L3, -L3).reshape(3, 2, 1, 2)   # [N, T, h, w]
  frame_logits = logits.transpose(1, 0, 2, 3)[None].reshape(2, 3, 1, 2)
  masks = np.zeros((1, 2, 3, 1, 2), np.float32)                 # [B, T, M, h, w]
  masks[0, 0, 0] = [[1, 1]]
  masks[0, 1, 1] = [[1, 0]]
  present = np.array([[[1, 0, 0], [0, 1, 0]]], bool)
  targets = {clip_loss.MASKS: masks, clip_loss.PRESENT: present,
             clip_loss.LABELS: np.array([[3, 5, 0]]),
             clip_loss.VALID: np.array([[True, True, False]])}
  return jnp.asarray(frame_logits, jnp.float32), targets


def test_tube_cost_and_assignment_by_hand():
  frame_logits, targets = _hand_case()
  tg = clip_loss.prepare_targets(targets, stride=1)
  tubes = clip_loss.to_tubes(frame_logits, 2)                    # [1, 3, 2, 2]
  np.testing.assert_allclose(
      np.asarray(jax.nn.sigmoid(tubes)).reshape(3, 4),
      [[.25, .25, .75, .25], [.75, .75, .25, .25], [.75, .75, .75, .25]],
      atol=1e-6)
  np.testing.assert_array_equal(np.asarray(tg.tubes).reshape(3, 4)[:2],
                                [[1, 1, 0, 0], [0, 0, 1, 0]])
  # Cost = 1 * MaskCost + 4 * DiceCost (no class logits), by hand:
  #   MaskCost = -(sum p t + sum (1-p)(1-t)) / 4,
  #   DiceCost = -2 sum p t / (sum p^2 + 1e-3 + sum t^2 + 1e-3).
  # pred0: sum p^2 = .75; pred1: 1.25; pred2: 1.75. A: sum t^2 = 2, B: 1.
  expected = np.array([
      [-1.5 / 4 - 4 * 1.0 / 2.752, -3.0 / 4 - 4 * 1.5 / 1.752],
      [-3.0 / 4 - 4 * 3.0 / 3.252, -1.5 / 4 - 4 * 0.5 / 2.252],
      [-2.5 / 4 - 4 * 3.0 / 3.752, -2.0 / 4 - 4 * 1.5 / 2.752]])
  cost = clip_loss._cost(tubes, None, tg.tubes, tg.labels, tg.valid,  # pylint: disable=protected-access
                         _loss_config())
  np.testing.assert_allclose(np.asarray(cost)[0, :, :2], expected, rtol=1e-5)
  # Best total: pred1 -> A (-4.440), pred0 -> B (-4.175) = -8.615, against
  # pred2 -> A + pred0 -> B = -7.998 and pred1 -> A + pred2 -> B = -7.120.
  a = clip_loss.clip_assign(tubes, None, tg, _loss_config())
  assert a.pred_to_gt.tolist() == [[1, 0, -1]]
  assert a.gt_to_pred.tolist() == [[1, 0, -1]]


def test_class_cost_can_flip_the_assignment():
  frame_logits, targets = _hand_case()
  tg = clip_loss.prepare_targets(targets, stride=1)
  tubes = clip_loss.to_tubes(frame_logits, 2)
  # pred2 is sure of class 3 (GT A's), pred1 of nothing: with the class cost
  # (weight 2) pred2 -> A costs -3.823 + 2 * focal(A) and wins.
  cls = np.full((1, 3, 40), -8.0, np.float32)
  cls[0, 2, 3] = 8.0
  cls[0, 0, 5] = 8.0
  a = clip_loss.clip_assign(tubes, jnp.asarray(cls), tg, _loss_config())
  assert a.pred_to_gt.tolist() == [[1, -1, 0]]


def test_debug_model_overfits_a_fixed_clip():
  """The tiny config drives the whole loss down on one generated clip."""
  import optax  # pylint: disable=g-import-not-at-top
  from video_knet_jax.datasets.youtube_vis import generate  # pylint: disable=g-import-not-at-top
  from video_knet_jax.models import knet_track  # pylint: disable=g-import-not-at-top
  config = youtube_vis.get_config("debug")
  spec = generate.YouTubeVisSpec(seed=0, frames_per_video=2, height=64, width=96,
                                 instances_per_video=3)
  images, instances, _ = generate.render_video(spec, 0)
  m = 4
  masks = np.zeros((1, 2, m, 64, 96), np.uint8)
  present = np.zeros((1, 2, m), bool)
  for k, inst in enumerate(instances):
    for t in range(2):
      if inst.masks[t] is not None:
        masks[0, t, k], present[0, t, k] = inst.masks[t], True
  targets = {clip_loss.MASKS: masks, clip_loss.PRESENT: present,
             clip_loss.LABELS: np.array([[i.label for i in instances] + [0]]),
             clip_loss.VALID: np.array([[1, 1, 1, 0]], bool)}
  clip = jnp.asarray((images[None].astype(np.float32) - 100.0) / 60.0)
  model = knet_track.build_model(config)
  params = model.init(jax.random.key(0), clip)["params"]
  batch_stats = model.init(jax.random.key(0), clip)["batch_stats"]
  optimizer = optax.adamw(2e-3, weight_decay=0.0)

  def loss_fn(p):
    out = model.apply({"params": p, "batch_stats": batch_stats}, clip)
    return clip_loss.knet_track_loss(out, targets, config)

  @jax.jit
  def step(p, opt):
    (total, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(p)
    updates, opt = optimizer.update(grads, opt, p)
    return optax.apply_updates(p, updates), opt, total, metrics

  opt = optimizer.init(params)
  losses = []
  for _ in range(40):
    params, opt, total, metrics = step(params, opt)
    losses.append(float(total))
  assert np.all(np.isfinite(losses))
  assert {"rpn_loss_seg", "s1_loss_cls", "tracker_s0_loss_cls",
          "tracker_s2_loss_dice"} <= set(metrics)
  assert "tracker_s2_loss_cls" not in metrics
  assert losses[-1] < 0.5 * losses[0], losses
  # The clip-level stage learned the tubes: its dice loss is small.
  assert float(metrics["tracker_s1_loss_dice"]) < 0.5 * 4.0, metrics
