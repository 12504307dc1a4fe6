"""One augmentation draw applied to every frame and label of a clip (tf.data).

Follows the original recipe (video_knet_original.md section 1.7): keep-ratio
rescale by r ~ U(scale_range) of `base_size`, random crop of `crop_size`
(kept whole where the image is smaller), horizontal flip, ImageNet
normalisation, padding to a multiple of `size_divisor`. All randomness comes
from one stateless seed, so a clip is a pure function of its frames and seed.
"""
import dataclasses

import tensorflow as tf

from video_knet_jax import shapes


@dataclasses.dataclass(frozen=True)
class AugmentParams:
  base_size: tuple[int, int]          # (H, W) at scale 1.
  scale_range: tuple[float, float]
  crop_size: tuple[int, int]
  flip_prob: float
  size_divisor: int
  mean: tuple[float, float, float]
  std: tuple[float, float, float]
  ignore_label: int
  thing_train_ids: tuple[int, ...]
  panoptic_divisor: int
  require_shared_thing: bool          # retry crops until key/ref share an id.
  crop_attempts: int = 10

  @property
  def padded_size(self) -> tuple[int, int]:
    return shapes.round_up(self.crop_size, self.size_divisor)


def params_from_config(data, *, ignore_label: int,
                       thing_train_ids: tuple[int, ...] = (),
                       panoptic_divisor: int = 1000,
                       require_shared_thing: bool = False) -> AugmentParams:
  """`AugmentParams` from `config.data` and the label space's values."""
  return AugmentParams(
      base_size=tuple(data.base_size), scale_range=tuple(data.scale_range),
      crop_size=tuple(data.crop_size), flip_prob=float(data.flip_prob),
      size_divisor=int(data.size_divisor), mean=tuple(data.mean),
      std=tuple(data.std), ignore_label=int(ignore_label),
      thing_train_ids=tuple(thing_train_ids), panoptic_divisor=panoptic_divisor,
      require_shared_thing=require_shared_thing,
      crop_attempts=int(data.get("crop_attempts", 10)))


def rescale_size(height: tf.Tensor, width: tf.Tensor, ratio: tf.Tensor,
                 base_size: tuple[int, int]) -> tuple[tf.Tensor, tf.Tensor]:
  """mmcv keep-ratio rescale of (H, W) to `base_size * ratio`."""
  h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
  # mmdet truncates the jittered target scale to integers first.
  long_target = tf.floor(float(max(base_size)) * ratio)
  short_target = tf.floor(float(min(base_size)) * ratio)
  factor = tf.minimum(long_target / tf.maximum(h, w),
                      short_target / tf.minimum(h, w))
  new_h = tf.cast(tf.floor(h * factor + 0.5), tf.int32)
  new_w = tf.cast(tf.floor(w * factor + 0.5), tf.int32)
  return tf.maximum(new_h, 1), tf.maximum(new_w, 1)


def augment_clip(images, semantic, instance, seed, params: AugmentParams):
  """Rescales, crops, flips, normalises and pads a clip with one draw.

  Args:
    images: list of T [H, W, 3] uint8 frames (key first); sizes may differ
      per frame, all are rescaled to the key frame's new size.
    semantic: list of T [H, W] int32 semantic maps (ignore_label = void).
    instance: list of T [H, W] int32 instance maps.
    seed: [2] int32 stateless seed.
    params: the augmentation settings.

  Returns:
    image [T, Ph, Pw, 3] float32, semantic [T, Ph, Pw] int32 (ignore_label
    in padding), instance [T, Ph, Pw] int32, padding_mask [T, Ph, Pw] bool.
  """
  fold = lambda i: tf.random.experimental.stateless_fold_in(seed, i)
  ratio = tf.random.stateless_uniform(
      [], fold(0), minval=params.scale_range[0], maxval=params.scale_range[1])
  key_shape = tf.shape(images[0])
  new_h, new_w = rescale_size(key_shape[0], key_shape[1], ratio,
                              params.base_size)
  size = tf.stack([new_h, new_w])
  image = tf.stack([
      tf.image.resize(tf.cast(im, tf.float32), size, method="bilinear",
                      antialias=False) for im in images])        # [T, h, w, 3]
  labels = tf.stack([
      tf.image.resize(tf.stack([s, i], axis=-1), size, method="nearest")
      for s, i in zip(semantic, instance)])                      # [T, h, w, 2]

  crop_h = tf.minimum(new_h, params.crop_size[0])
  crop_w = tf.minimum(new_w, params.crop_size[1])
  oy, ox = _crop_offsets(labels, new_h - crop_h, new_w - crop_w, crop_h,
                         crop_w, fold(1), params)
  image = image[:, oy:oy + crop_h, ox:ox + crop_w]
  labels = labels[:, oy:oy + crop_h, ox:ox + crop_w]

  flip = tf.random.stateless_uniform([], fold(2)) < params.flip_prob
  image = tf.cond(flip, lambda: tf.reverse(image, [2]), lambda: image)
  labels = tf.cond(flip, lambda: tf.reverse(labels, [2]), lambda: labels)

  mean = tf.constant(params.mean, tf.float32)
  std = tf.constant(params.std, tf.float32)
  image = (image - mean) / std
  ph, pw = params.padded_size
  pad = [[0, 0], [0, ph - crop_h], [0, pw - crop_w]]
  image = tf.pad(image, pad + [[0, 0]])
  sem = tf.pad(labels[..., 0], pad, constant_values=params.ignore_label)
  ins = tf.pad(labels[..., 1], pad)
  padding = tf.pad(tf.zeros_like(labels[..., 0], tf.bool), pad,
                   constant_values=True)
  t = len(images)
  return (tf.ensure_shape(image, [t, ph, pw, 3]),
          tf.ensure_shape(sem, [t, ph, pw]),
          tf.ensure_shape(ins, [t, ph, pw]),
          tf.ensure_shape(padding, [t, ph, pw]))


def _crop_offsets(labels, max_y, max_x, crop_h, crop_w, seed, params):
  """Draws crop offsets; with require_shared_thing retries until the key crop
  holds a thing instance whose id also appears in every reference crop (the
  original re-draws such clips, section 1.7 step 5). Keeps the last draw if
  no attempt succeeds."""
  def draw(i):
    s = tf.random.experimental.stateless_fold_in(seed, i)
    u = tf.random.stateless_uniform([2], s)
    oy = tf.cast(tf.floor(u[0] * tf.cast(max_y + 1, tf.float32)), tf.int32)
    ox = tf.cast(tf.floor(u[1] * tf.cast(max_x + 1, tf.float32)), tf.int32)
    return tf.minimum(oy, max_y), tf.minimum(ox, max_x)

  oy, ox = draw(0)
  if not params.require_shared_thing:
    return oy, ox
  num_ids = (max(params.thing_train_ids) + 1) * params.panoptic_divisor

  def ok(oy, ox):
    crop = labels[:, oy:oy + crop_h, ox:ox + crop_w]
    sem, ins = crop[..., 0], crop[..., 1]
    is_thing = tf.reduce_any(
        sem[..., None] == tf.constant(params.thing_train_ids), -1) & (ins > 0)
    ids = tf.where(is_thing, sem * params.panoptic_divisor + ins, 0)
    present = tf.map_fn(
        lambda x: tf.math.bincount(tf.reshape(x, [-1]), minlength=num_ids,
                                   maxlength=num_ids) > 0,
        ids, fn_output_signature=tf.bool)[:, 1:]         # [T, num_ids - 1]
    shared = tf.reduce_all(present[:1] & present, axis=0)  # in key and refs.
    return tf.reduce_any(shared)

  def cond(i, oy, ox, done):
    return tf.logical_and(i < params.crop_attempts, tf.logical_not(done))

  def body(i, oy, ox, done):
    oy, ox = draw(i)
    return i + 1, oy, ox, ok(oy, ox)

  _, oy, ox, _ = tf.while_loop(cond, body,
                               [tf.constant(1), oy, ox, ok(oy, ox)])
  return oy, ox
