"""The image K-Net pretraining losses: focal semantic loss, single-frame loss."""
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from video_knet_jax.losses import image_loss
from video_knet_jax.losses import segmentation_loss as sl


def test_focal_semantic_loss_matches_a_numpy_reference():
  """Image K-Net pretraining's rpn seg loss: mmdet sigmoid focal, ignored
  pixels all-negative, mean over every pixel and class."""
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)     # [B, C, H, W]
  labels = rng.integers(0, 4, size=(2, 4, 5))                    # 3 = ignored.
  lc = ml_collections.ConfigDict(dict(rpn_seg_type="focal", focal_alpha=0.25,
                                      focal_gamma=2.0))
  got = float(sl._semantic_loss(jnp.asarray(logits), jnp.asarray(labels), lc))  # pylint: disable=protected-access
  p = 1 / (1 + np.exp(-logits))
  t = (labels[:, None] == np.arange(3)[None, :, None, None]).astype(np.float64)
  loss = -(0.25 * t * (1 - p) ** 2 * np.log(p)
           + 0.75 * (1 - t) * p ** 2 * np.log(1 - p))
  np.testing.assert_allclose(got, loss.mean(), rtol=1e-5)
  lc.rpn_seg_type = "softmax"
  with pytest.raises(ValueError, match="rpn_seg_type"):
    sl._semantic_loss(jnp.asarray(logits), jnp.asarray(labels), lc)  # pylint: disable=protected-access


def test_image_loss_refuses_clips_with_references():
  batch = {"thing_masks": np.zeros((1, 2, 1, 4, 4))}
  with pytest.raises(ValueError, match="num_refs must be 0"):
    image_loss.image_knet_loss({}, batch, None)
