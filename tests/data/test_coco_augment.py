"""The COCO ms-3x / large-scale-jitter augmentation: sizes, alignment, flip, crop, canvas."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from video_knet_jax.data import coco_augment

MEAN, STD = np.asarray((123.675, 116.28, 103.53)), np.asarray((58.395, 57.12, 57.375))


def _scene(h=48, w=64):
  """Blue image with two red boxes = the two instance masks (one at the far right)."""
  image = np.zeros((h, w, 3), np.uint8)
  image[..., 2] = 200
  masks = np.zeros((2, h, w), np.uint8)
  masks[0, 10:30, 8:24] = 1
  masks[1, 30:44, w - 6:w] = 1
  image[masks.any(0)] = (200, 0, 0)
  return image, masks


_TRACED = {}


def _run(params, image, masks, seed, label_map=None):
  key = (params, label_map is None)
  if key not in _TRACED:   # one trace per settings (shapes vary: reduce_retracing).
    _TRACED[key] = tf.function(
        lambda *args: coco_augment.augment_image(*args[:3], params, *args[3:]),
        reduce_retracing=True)
  augment = _TRACED[key]
  args = [tf.constant(image), tf.constant(masks), tf.constant([seed, 0], tf.int32)]
  out = augment(*args, *([] if label_map is None else [tf.constant(label_map)]))
  return {k: v.numpy() for k, v in out.items()}


def test_rescale_size_is_mmcv_keep_ratio():
  # factor = min(long / max(h, w), short / min(h, w)); size int(x * factor + 0.5).
  cases = [((480, 640), (1333, 800), (800, 1067)),     # short side binds.
           ((640, 427), (1333, 640), (959, 427 * 640 // 427)),
           ((100, 1000), (1333, 800), (133, 1333)),     # long side binds.
           ((500, 500), (307, 307), (307, 307))]
  for (h, w), (long, short), want in cases:
    got = coco_augment.rescale_size(h, w, long, short)
    assert tuple(int(v) for v in got) == want, (h, w, long, short)


def test_range_mode_draws_short_sides_640_to_800_with_long_side_capped():
  params = coco_augment.CocoAugmentParams(canvas=(1344, 1344), flip_prob=0.0)
  image, masks = _scene(480 // 8, 640 // 8)   # 60x80: the short side binds below 1333.
  shorts = set()
  for seed in range(12):
    out = _run(params, image, masks, seed)
    h, w = out["size"]
    assert 640 <= h <= 800 and w == int(80 * h / 60 + 0.5)
    shorts.add(int(h))
    assert out["valid"].sum() == h * w and not out["valid"][h:].any()
    assert not out["image"][h:].any() and not out["masks"][:, :, w:].any()   # zero padding.
  assert min(shorts) < 680 and max(shorts) > 760   # the range is drawn, not one value.


@pytest.mark.parametrize("mode", ["range", "lsj"])
def test_masks_stay_on_their_pixels_through_resize_crop_and_flip(mode):
  # (LSJ ratios below ~0.5 shrink the 16-pixel boxes to a few pixels, where
  # nearest masks and bilinear pixels differ by more than a rim.)
  params = coco_augment.CocoAugmentParams(mode=mode, long_side=200, short_side_range=(64, 160),
                                          lsj_size=96, lsj_ratio_range=(0.6, 2.0),
                                          canvas=(224, 224))
  image, masks = _scene()
  label_map = masks.argmax(0)[..., None].astype(np.int32) + masks.any(0)[..., None]
  flips = set()
  for seed in range(12):
    out = _run(params, image, masks, seed, label_map)
    flips.add(bool(out["flipped"]))
    red = out["image"][..., 0] * STD[0] + MEAN[0] > 100
    valid = out["valid"]
    inside = out["masks"].any(0)
    # Bilinear blending touches a one-pixel rim only.
    assert (red[inside]).mean() > 0.9 and (red[valid & ~inside]).mean() < 0.1
    np.testing.assert_array_equal(out["keep"], out["masks"].any((1, 2)))
    np.testing.assert_array_equal((out["label_map"][..., 0] > 0) & valid, inside)
    assert (out["label_map"][~valid] == 255).all()
    if mode == "lsj":
      assert (out["size"] <= 96).all()
  assert flips == {True, False}


def test_flip_mirrors_the_same_draw():
  base = coco_augment.CocoAugmentParams(long_side=100, short_side_range=(40, 80), canvas=(112, 112))
  image, masks = _scene()
  plain = _run(dataclasses.replace(base, flip_prob=0.0), image, masks, 3)
  flipped = _run(dataclasses.replace(base, flip_prob=1.0), image, masks, 3)
  h, w = plain["size"]
  np.testing.assert_array_equal(flipped["size"], plain["size"])
  np.testing.assert_allclose(flipped["image"][:h, :w], plain["image"][:h, ::-1][:, -w:])
  np.testing.assert_array_equal(flipped["masks"][:, :h, :w], plain["masks"][:, :h, :w][..., ::-1])


def test_lsj_crop_drops_instances_it_cuts_away():
  params = coco_augment.CocoAugmentParams(mode="lsj", lsj_size=32, lsj_ratio_range=(1.5, 2.0),
                                          canvas=(32, 32), flip_prob=0.0)
  image, masks = _scene()
  kept = []
  for seed in range(16):
    out = _run(params, image, masks, seed)
    np.testing.assert_array_equal(out["size"], [32, 32])   # always cropped at this scale.
    kept.append(out["keep"].tolist())
  assert [False, False] in kept or [True, False] in kept or [False, True] in kept
  same = _run(params, image, masks, 5)
  np.testing.assert_array_equal(same["image"], _run(params, image, masks, 5)["image"])


def test_canvas_too_small_is_named():
  params = coco_augment.CocoAugmentParams(long_side=200, short_side_range=(150, 150),
                                          canvas=(64, 64))
  image, masks = _scene()
  with pytest.raises(tf.errors.InvalidArgumentError, match="config.data.canvas"):
    _run(params, image, masks, 0)
  with pytest.raises(ValueError, match="scale_mode"):
    coco_augment.CocoAugmentParams(mode="jitter")
