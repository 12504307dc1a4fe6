"""Semantic cross-entropy against a hand-computed case."""
import numpy as np

from video_knet_jax.losses import semantic_loss


def test_cross_entropy_hand_computed():
  # 2 classes, 1x2 pixels; the second pixel is ignored but counts in the mean.
  logits = np.zeros((1, 2, 1, 2), np.float32)
  logits[0, 0, 0, 0] = np.log(3.0)        # p(class 0) = 3/4 at pixel 0.
  labels = np.array([[[0, 255]]])
  loss = semantic_loss.cross_entropy(logits, labels, 255)
  np.testing.assert_allclose(loss, -np.log(0.75) / 2, rtol=1e-6)


def test_logits_are_resized_to_the_labels():
  logits = np.zeros((1, 2, 1, 1), np.float32)
  logits[0, 1] = 2.0
  labels = np.ones((1, 4, 4), np.int32)
  expected = -np.log(np.exp(2.0) / (1 + np.exp(2.0)))
  np.testing.assert_allclose(semantic_loss.cross_entropy(logits, labels, 255), expected,
                             rtol=1e-6)
