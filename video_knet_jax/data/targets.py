"""Static-shape training targets of one frame from its semantic/instance maps.

Things: one mask per instance of a thing class (panoptic id semantic *
panoptic_divisor + instance, so the same object keeps the same id across a
clip); class, thing set, void and divisor come from the dataset facts. If more than
`max_instances` are visible, the largest are kept; the rest stay in SEMANTIC
but get no mask. Crowd pixels (thing class, instance 0) are not an instance by
default: they keep their class in SEMANTIC and are not void. With
`crowd_as_instance` they become one instance per class with id class * divisor,
as in the original (video_knet_original.md section 10, item 12).
Stuff: one mask per stuff class (increasing trainId, things skipped).
"""
import tensorflow as tf

from video_knet_jax import common
from video_knet_jax.data import device_targets


# The settings are shared with the on-device version (no TensorFlow there).
TargetParams = device_targets.TargetParams


def frame_targets(semantic: tf.Tensor, instance: tf.Tensor,
                  params: TargetParams) -> dict[str, tf.Tensor]:
  """[H, W] int32 semantic and instance maps -> the per-frame target dict."""
  m = params.max_instances
  things = tf.constant(params.thing_train_ids, tf.int32)
  is_thing = tf.reduce_any(semantic[..., None] == things, axis=-1)
  if not params.crowd_as_instance:
    is_thing &= instance > 0
  pan = semantic * params.panoptic_divisor + instance
  ids, _, counts = tf.unique_with_counts(tf.boolean_mask(pan, is_thing))
  k = tf.minimum(tf.size(ids), m)
  _, largest = tf.math.top_k(counts, k=k)                 # biggest k areas.
  ids = tf.sort(tf.gather(ids, largest))                  # [k]
  ids = tf.pad(ids, [[0, m - k]], constant_values=-1)     # [M]
  valid = tf.range(m) < k
  masks = (tf.where(is_thing, pan, -2)[None] == ids[:, None, None])
  classes = tf.argmax(
      tf.cast((ids // params.panoptic_divisor)[:, None] == things[None], tf.int32),
      axis=-1, output_type=tf.int32)
  stuff = tf.constant(params.stuff_train_ids, tf.int32)
  stuff_masks = semantic[None] == stuff[:, None, None]    # [S, H, W]
  return {
      common.SEMANTIC: semantic,
      common.THING_MASKS: tf.cast(masks, tf.uint8),        # [M, H, W]
      common.THING_CLASSES: tf.where(valid, classes, 0),   # [M]
      common.THING_IDS: tf.where(valid, ids, 0),           # [M]
      common.THING_VALID: valid,                           # [M]
      common.STUFF_MASKS: tf.cast(stuff_masks, tf.uint8),  # [S, H, W]
      common.STUFF_VALID: tf.reduce_any(stuff_masks, axis=[1, 2]),  # [S]
      common.VOID_MASK: tf.equal(semantic, params.ignore_label),
  }
