"""The image K-Net training loss: one frame's segmentation losses, no tracking.

The original `KNet` detector (Cityscapes-STEP pretraining, reference section
7.1) trains on single images; its losses are the per-frame ones of
`segmentation_loss.frame_losses` (rpn, and every stage incl. the rank loss
when `config.loss.rank > 0`).
"""
from typing import Any, Dict, Tuple

import jax

from video_knet_jax import common
from video_knet_jax.losses import segmentation_loss
from video_knet_jax.losses import video_loss


def image_knet_loss(outputs: Dict[str, jax.Array], batch: Dict[str, Any],
                    config) -> Tuple[jax.Array, Dict[str, jax.Array]]:
  """(loss, metrics) of frame 0 of a batch with T = 1."""
  num_frames = batch[common.THING_MASKS].shape[1]
  if num_frames != 1:
    raise ValueError(
        f"image_knet_loss: expects single-frame clips, got T={num_frames} "
        "(config.data.num_refs must be 0 for an image K-Net).")
  total, metrics, _ = segmentation_loss.frame_losses(
      outputs, video_loss.frame_targets(batch, 0), config)
  metrics = dict(metrics)
  metrics[common.LOSS_TOTAL] = total
  return total, metrics
