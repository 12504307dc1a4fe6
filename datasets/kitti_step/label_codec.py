"""The KITTI-STEP label PNG encoding: R = semantic id, G * 256 + B = instance id.

The builder stores label PNGs unchanged, so this module is the one place that
knows how to turn their pixels into (semantic, instance) maps and back.
"""
import numpy as np
import tensorflow as tf

from video_knet_jax.datasets.kitti_step import facts as facts_lib


def encode_rgb_label(semantic: np.ndarray, instance: np.ndarray) -> np.ndarray:
  """[H, W] semantic (0..255) + [H, W] instance (0..65535) -> [H, W, 3] uint8."""
  semantic = np.asarray(semantic)
  instance = np.asarray(instance)
  if semantic.min(initial=0) < 0 or semantic.max(initial=0) > 255:
    raise ValueError("semantic ids must fit in 8 bits.")
  if instance.min(initial=0) < 0 or instance.max(initial=0) > 65535:
    raise ValueError("instance ids must fit in 16 bits.")
  return np.stack([semantic, instance // 256, instance % 256],
                  axis=-1).astype(np.uint8)


def decode_rgb_label(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """[H, W, 3] uint8 -> ([H, W] int32 semantic, [H, W] int32 instance)."""
  rgb = np.asarray(rgb).astype(np.int32)
  return rgb[..., 0], rgb[..., 1] * 256 + rgb[..., 2]


def decode_rgb_label_tf(rgb: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """The same as `decode_rgb_label` inside a tf.data graph."""
  rgb = tf.cast(rgb, tf.int32)
  return rgb[..., 0], rgb[..., 1] * 256 + rgb[..., 2]


def panoptic_ids(semantic: np.ndarray, instance: np.ndarray) -> np.ndarray:
  """semantic * 1000 + instance (DeepLab2's KITTI-STEP convention), int32."""
  return (np.asarray(semantic, np.int32) * facts_lib.PANOPTIC_DIVISOR
          + np.asarray(instance, np.int32))
