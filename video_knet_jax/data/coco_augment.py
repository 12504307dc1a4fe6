"""COCO training augmentation of the original's K-Net recipes, for one image (tf.data).

Two scale policies (config.data.scale_mode):

* 'range' (the ms-3x recipes, `configs/det/common/mstrain_3x_coco_*.py`): mmdet
  `Resize(img_scale=[(1333, 640), (1333, 800)], multiscale_mode='range',
  keep_ratio=True)`: the long-edge target is 1333, the short-edge target is drawn
  uniformly from the integers 640..800, and the image is rescaled by
  min(long / max(h, w), short / min(h, w)) (mmcv `rescale_size`: new size
  int(x * factor + 0.5)).
* 'lsj' (large-scale jitter, `configs/det/common/lsj_coco_panoptic_50e.py`):
  `Resize(img_scale=(1024, 1024), ratio_range=(0.1, 2.0), keep_ratio=True)`: both
  targets int(1024 r), r ~ U(0.1, 2.0); then `RandomCrop(crop_size=(1024, 1024),
  crop_type='absolute_range', allow_negative_crop=True)`: a min(h, 1024) x
  min(w, 1024) window at a uniform offset; instances with no pixel left are
  flagged (`keep`), as mmdet drops them.

Then `RandomFlip(0.5)` (horizontal), `Normalize` (ImageNet mean/std) and padding
with zeros to a static canvas (the original pads each batch to a multiple of
32; a fixed canvas keeps shapes static under jit). Images are resized bilinearly
and rounded as the original's uint8 images are, masks by nearest neighbour with
OpenCV's source index floor(dst * in / out). One stateless seed draws everything.
"""
import dataclasses

import tensorflow as tf

RANGE = "range"
LSJ = "lsj"


@dataclasses.dataclass(frozen=True)
class CocoAugmentParams:
  """Settings of `augment_image` (see `from_config` for the config fields)."""
  mode: str = RANGE
  long_side: int = 1333                        # 'range': long-edge target.
  short_side_range: tuple[int, int] = (640, 800)   # 'range': short-edge targets.
  lsj_size: int = 1024                         # 'lsj': target and crop size.
  lsj_ratio_range: tuple[float, float] = (0.1, 2.0)
  flip_prob: float = 0.5
  canvas: tuple[int, int] = (1344, 1344)      # padded (H, W).
  mean: tuple[float, float, float] = (123.675, 116.28, 103.53)
  std: tuple[float, float, float] = (58.395, 57.12, 57.375)
  pad_label: int = 255                         # label-map value in the padding.

  def __post_init__(self):
    if self.mode not in (RANGE, LSJ):
      raise ValueError(f"config.data.scale_mode={self.mode!r}; expected {RANGE!r} or {LSJ!r}.")

  @classmethod
  def from_config(cls, data) -> "CocoAugmentParams":
    """From `config.data` (configs/coco.py)."""
    fields = dict(mode=data.scale_mode, flip_prob=data.flip_prob, canvas=tuple(data.canvas),
                  mean=tuple(data.mean), std=tuple(data.std),
                  pad_label=data.get("ignore_label", 255))
    for name in ("long_side", "short_side_range", "lsj_size", "lsj_ratio_range"):
      if name in data:
        value = data[name]
        fields[name] = tuple(value) if isinstance(value, (tuple, list)) else value
    return cls(**fields)


def rescale_size(height, width, long_target, short_target):
  """mmcv `rescale_size` (keep ratio): (new_h, new_w) int32 tensors."""
  h, w = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
  long_target = tf.cast(long_target, tf.float64)
  short_target = tf.cast(short_target, tf.float64)
  factor = tf.minimum(long_target / tf.maximum(h, w), short_target / tf.minimum(h, w))
  new_h = tf.cast(tf.floor(h * factor + 0.5), tf.int32)
  new_w = tf.cast(tf.floor(w * factor + 0.5), tf.int32)
  return tf.maximum(new_h, 1), tf.maximum(new_w, 1)


def _nearest_indices(out_size, in_size):
  """OpenCV INTER_NEAREST source index of every output pixel: floor(dst * in / out)."""
  dst = tf.range(out_size, dtype=tf.int64)
  return tf.cast(dst * tf.cast(in_size, tf.int64) // tf.cast(out_size, tf.int64), tf.int32)


def _resize_nearest(x, new_h, new_w, axis):
  """x resized along axes (axis, axis + 1) by nearest neighbour."""
  rows = _nearest_indices(new_h, tf.shape(x)[axis])
  cols = _nearest_indices(new_w, tf.shape(x)[axis + 1])
  return tf.gather(tf.gather(x, rows, axis=axis), cols, axis=axis + 1)


def augment_image(image, masks, seed, params: CocoAugmentParams, label_map=None) -> dict:
  """One random draw of the recipe's train augmentation.

  Args:
    image: [H, W, 3] uint8.
    masks: [N, H, W] uint8 0/1 instance masks (N may be 0).
    seed: [2] int32 stateless seed.
    params: the settings.
    label_map: optional [H, W, C] integer maps (e.g. panoptic semantic and
      instance ids), resized like the masks and padded with `pad_label`.

  Returns:
    image [Ch, Cw, 3] float32 normalised (0 in the padding), masks [N, Ch, Cw]
    uint8, valid [Ch, Cw] bool (False in the padding), size [2] int32 (the
    image's (h, w) before padding), keep [N] bool (the instance has pixels
    left), flipped bool, and label_map [Ch, Cw, C] if given.
  """
  fold = lambda i: tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int32), i)
  shape = tf.shape(image)
  height, width = shape[0], shape[1]
  if params.mode == RANGE:
    short = tf.random.stateless_uniform([], fold(0), params.short_side_range[0],
                                        params.short_side_range[1] + 1, dtype=tf.int32)
    new_h, new_w = rescale_size(height, width, params.long_side, short)
  else:
    ratio = tf.random.stateless_uniform([], fold(0), *params.lsj_ratio_range,
                                        dtype=tf.float64)
    target = tf.cast(tf.floor(params.lsj_size * ratio), tf.int32)   # python int() of >0.
    new_h, new_w = rescale_size(height, width, target, target)

  resized = tf.image.resize(tf.cast(image, tf.float32), tf.stack([new_h, new_w]),
                            method="bilinear", antialias=False)
  resized = tf.clip_by_value(tf.round(resized), 0.0, 255.0)        # the original's uint8.
  masks = _resize_nearest(masks, new_h, new_w, axis=1)
  if label_map is not None:
    label_map = _resize_nearest(label_map, new_h, new_w, axis=0)

  if params.mode == LSJ:   # RandomCrop 'absolute_range' of (lsj_size, lsj_size).
    crop_h = tf.minimum(new_h, params.lsj_size)
    crop_w = tf.minimum(new_w, params.lsj_size)
    top = tf.random.stateless_uniform([], fold(1), 0, new_h - crop_h + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([], fold(2), 0, new_w - crop_w + 1, dtype=tf.int32)
    resized = resized[top:top + crop_h, left:left + crop_w]
    masks = masks[:, top:top + crop_h, left:left + crop_w]
    if label_map is not None:
      label_map = label_map[top:top + crop_h, left:left + crop_w]
    new_h, new_w = crop_h, crop_w

  flipped = tf.random.stateless_uniform([], fold(3)) < params.flip_prob
  resized = tf.cond(flipped, lambda: tf.reverse(resized, [1]), lambda: resized)
  masks = tf.cond(flipped, lambda: tf.reverse(masks, [2]), lambda: masks)
  if label_map is not None:
    label_map = tf.cond(flipped, lambda: tf.reverse(label_map, [1]), lambda: label_map)

  canvas_h, canvas_w = params.canvas
  with tf.control_dependencies([tf.debugging.assert_less_equal(
      tf.stack([new_h, new_w]), tf.constant([canvas_h, canvas_w]),
      message=f"An augmented image exceeds config.data.canvas={tuple(params.canvas)}")]):
    pad = [[0, canvas_h - new_h], [0, canvas_w - new_w]]
  normalised = (resized - tf.constant(params.mean)) / tf.constant(params.std)
  out = {
      "image": tf.pad(normalised, pad + [[0, 0]]),
      "masks": tf.pad(masks, [[0, 0]] + pad),
      "valid": tf.pad(tf.ones([new_h, new_w], tf.bool), pad),
      "size": tf.stack([new_h, new_w]),
      "keep": tf.reduce_any(masks > 0, axis=[1, 2]),
      "flipped": flipped,
  }
  if label_map is not None:
    out["label_map"] = tf.pad(label_map, pad + [[0, 0]], constant_values=params.pad_label)
  return out
