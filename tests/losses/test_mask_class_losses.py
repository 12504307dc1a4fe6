"""Element-wise losses and resizing against torch and hand-computed values."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from video_knet_jax.losses import class_losses
from video_knet_jax.losses import mask_losses
from video_knet_jax.losses import resampling
from video_knet_jax.models import reductions

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_upsample_matches_torch_bilinear(factor):
  x = np.random.default_rng(0).normal(size=(2, 3, 5, 7)).astype(np.float32)
  ref = F.interpolate(torch.from_numpy(x), scale_factor=factor,
                      mode="bilinear", align_corners=False).numpy()
  np.testing.assert_allclose(resampling.upsample_logits(x, factor), ref,
                             atol=1e-5)


@pytest.mark.parametrize("width,factor", [(16, 2), (24, 4), (12, 3), (7, 2),
                                          (4, 4)])
def test_blocked_column_upsampling_matches_torch_bilinear(width, factor):
  # Block sizes 8 and 4 (several blocks, edge blocks clamped), and the dense
  # product: a width no block divides (7) or one block's width (4, not split).
  x = np.random.default_rng(width).normal(size=(2, 3, 5, width)).astype(
      np.float32)
  ref = F.interpolate(torch.from_numpy(x), size=(5, width * factor),
                      mode="bilinear", align_corners=False).numpy()
  np.testing.assert_allclose(
      resampling.upsample_last_axis_by_blocks(x, factor), ref, atol=1e-5)


def test_downsample_matches_torch_bilinear():
  m = (np.random.default_rng(1).random((2, 3, 8, 12)) > 0.5).astype(np.uint8)
  ref = F.interpolate(torch.from_numpy(m).float(), size=(4, 6),
                      mode="bilinear", align_corners=False).numpy()
  got = resampling.downsample_masks(m, 2)
  np.testing.assert_allclose(got, ref, atol=1e-6)
  assert set(np.unique(np.asarray(got)).tolist()) > {0.0, 1.0}  # soft.
  with pytest.raises(ValueError, match="mask_assign_stride"):
    resampling.downsample_masks(np.zeros((1, 1, 5, 4)), 2)


@pytest.mark.parametrize("stride", [1, 3, 4, 8])
def test_downsample_matches_torch_bilinear_any_stride(stride):
  m = (np.random.default_rng(stride).random((2, 3, 24, 48)) > 0.5).astype(
      np.uint8)
  ref = F.interpolate(torch.from_numpy(m).float(),
                      size=(24 // stride, 48 // stride), mode="bilinear",
                      align_corners=False).numpy()
  np.testing.assert_allclose(resampling.downsample_masks(m, stride), ref,
                             atol=1e-6)


def test_bce_matches_torch():
  rng = np.random.default_rng(2)
  x = rng.normal(size=(4, 5)).astype(np.float32) * 4
  t = rng.random((4, 5)).astype(np.float32)
  ref = F.binary_cross_entropy_with_logits(
      torch.from_numpy(x), torch.from_numpy(t), reduction="none").numpy()
  np.testing.assert_allclose(mask_losses.sigmoid_bce(x, t), ref, rtol=1e-5,
                             atol=1e-6)


def test_dice_hand_computed():
  # p = sigmoid(0) = 0.5 everywhere on a 2x2 mask, t = [1, 1, 0, 0].
  logits = np.zeros((1, 2, 2), np.float32)
  t = np.array([[[1, 1], [0, 0]]], np.float32)
  expect = 1 - 2 * 1.0 / (1.0 + 1e-3 + 2.0 + 1e-3)
  np.testing.assert_allclose(mask_losses.dice_loss(logits, t), [expect],
                             rtol=1e-6)


def test_mask_losses_average_over_positives_per_image():
  rng = np.random.default_rng(3)
  x = rng.normal(size=(2, 3, 4, 4)).astype(np.float32)
  t = rng.random((2, 3, 4, 4)).astype(np.float32)
  pos = np.array([[True, False, True], [False, False, False]])
  bce = F.binary_cross_entropy_with_logits(torch.from_numpy(x[0][[0, 2]]),
                                           torch.from_numpy(t[0][[0, 2]]))
  np.testing.assert_allclose(mask_losses.mask_bce_loss(x, t, pos),
                             [bce.item(), 0.0], rtol=1e-5)
  d = mask_losses.dice_loss(x, t)
  np.testing.assert_allclose(mask_losses.mask_dice_loss(x, t, pos),
                             [(d[0, 0] + d[0, 2]) / 2, 0.0], rtol=1e-6)


def test_focal_matches_torch_and_hand():
  rng = np.random.default_rng(4)
  x = rng.normal(size=(6, 5)).astype(np.float32) * 3
  labels = np.array([0, 4, 5, 2, 5, 1])  # 5 = background.
  t = np.zeros((6, 5), np.float32)
  t[np.arange(6)[labels < 5], labels[labels < 5]] = 1
  w = rng.random((6, 5)).astype(np.float32)
  xt, tt = torch.from_numpy(x), torch.from_numpy(t)
  p = torch.sigmoid(xt)
  pt = (1 - p) * tt + p * (1 - tt)
  ref = (F.binary_cross_entropy_with_logits(xt, tt, reduction="none") *
         (0.25 * tt + 0.75 * (1 - tt)) * pt.pow(2.0)) * torch.from_numpy(w)
  got = class_losses.sigmoid_focal_loss(x, t, w, alpha=0.25, gamma=2.0)
  np.testing.assert_allclose(got, ref.numpy(), rtol=1e-5, atol=1e-7)
  # Hand: logit 0, target 1 -> 0.25 * 0.5^2 * log 2.
  one = class_losses.sigmoid_focal_loss(np.zeros((1, 1)), np.ones((1, 1)), 1.0,
                                        alpha=0.25, gamma=2.0)
  np.testing.assert_allclose(one, [[0.25 * 0.25 * math.log(2)]], rtol=1e-6)


def test_cross_entropy_mean_counts_ignored_pixels():
  rng = np.random.default_rng(5)
  x = rng.normal(size=(2, 4, 3, 5)).astype(np.float32)
  y = rng.integers(0, 5, (2, 3, 5))  # 4 = ignore.
  per = F.cross_entropy(torch.from_numpy(x), torch.from_numpy(y),
                        ignore_index=4, reduction="none").numpy()
  np.testing.assert_allclose(class_losses.softmax_cross_entropy(x, y, 4), per,
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(class_losses.mean_cross_entropy(x, y, 4),
                             per.sum() / y.size, rtol=1e-5)
  assert (y == 4).any()  # so the denominator choice matters.


@pytest.mark.parametrize("by_hand", [True, False])
def test_cross_entropy_gradient_matches_torch_on_either_class_axis(
    monkeypatch, by_hand):
  """On the CPU the class axis before the last (pixels' logits [B, C, H, W])
  takes a loop of maximums and a product with ones; the last axis, and
  other backends, take reduces."""
  monkeypatch.setattr(reductions, "by_hand", lambda: by_hand)
  rng = np.random.default_rng(6)
  x = (3 * rng.normal(size=(2, 7, 3, 5))).astype(np.float32)
  y = rng.integers(-1, 7, (2, 3, 5))   # -1 = ignore.
  xt = torch.from_numpy(x).requires_grad_(True)
  want = F.cross_entropy(xt, torch.from_numpy(y), ignore_index=-1,
                         reduction="none")
  want.mean().backward()
  for axis in (1, -1):
    xa = np.moveaxis(x, 1, axis)
    loss, grad = jax.value_and_grad(
        lambda v: class_losses.mean_cross_entropy(v, y, -1, axis))(xa)
    np.testing.assert_allclose(loss, want.mean().item(), rtol=1e-6)
    np.testing.assert_allclose(np.moveaxis(grad, axis, 1), xt.grad.numpy(),
                               rtol=1e-5, atol=1e-7)


def test_accuracy():
  logits = np.array([[2., 1.], [0., 3.], [5., 0.]])
  labels = np.array([0, 0, 1])
  np.testing.assert_allclose(
      class_losses.accuracy(logits, labels, np.array([True, True, False])),
      50.0)
  assert float(class_losses.accuracy(logits, labels, np.zeros(3, bool))) == 0
