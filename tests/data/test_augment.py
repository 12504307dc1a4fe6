"""Joint clip augmentation: every frame and label gets the same scale/crop/flip."""
import numpy as np
import tensorflow as tf

from video_knet_jax.data import augment

MEAN, STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)


def _params(**kw):
  args = dict(base_size=(24, 40), scale_range=(1.0, 1.0), crop_size=(16, 24),
              flip_prob=0.5, size_divisor=32, mean=MEAN, std=STD,
              ignore_label=255, thing_train_ids=(11, 13), panoptic_divisor=1000,
              require_shared_thing=False)
  args.update(kw)
  return augment.AugmentParams(**args)


def _frame(rng, h=24, w=40):
  image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
  sem = rng.integers(0, 19, (h, w)).astype(np.int32)
  ins = rng.integers(0, 4, (h, w)).astype(np.int32)
  return image, sem, ins


_TRACED = {}


def _run(frames, seed, params):
  """augment_clip traced once per params, as tf.data runs it."""
  if params not in _TRACED:
    _TRACED[params] = tf.function(
        lambda i, s, n, seed: augment.augment_clip(i, s, n, seed, params))
  images, sems, inss = zip(*frames)
  out = _TRACED[params](
      [tf.constant(x) for x in images], [tf.constant(x) for x in sems],
      [tf.constant(x) for x in inss], tf.constant(seed, tf.int32))
  return [x.numpy() for x in out]


def _find_window(out_image, image):
  """(flip, oy, ox) such that `out_image` is that window of `image`."""
  hits = []
  ch, cw = out_image.shape[:2]
  for flip in (False, True):
    for oy in range(image.shape[0] - ch + 1):
      for ox in range(image.shape[1] - cw + 1):
        window = image[oy:oy + ch, ox:ox + cw]
        if flip:
          window = window[:, ::-1]
        if np.array_equal(window, out_image):
          hits.append((flip, oy, ox))
  return hits


def test_every_frame_gets_the_same_crop_and_flip_by_pixel_content():
  rng = np.random.default_rng(0)
  key, ref = _frame(rng), _frame(rng)
  seen = set()
  for s in range(12):
    image, sem, ins, padding = _run([key, ref], [s, 7], _params())
    assert image.shape == (2, 32, 32, 3)
    assert padding[:, :16, :24].sum() == 0 and padding.sum() == 2 * (
        32 * 32 - 16 * 24)
    assert (sem[padding] == 255).all() and (image[padding] == 0).all()
    pixels = np.round(image[:, :16, :24] * STD + MEAN).astype(np.uint8)
    hits = _find_window(pixels[0], key[0])
    assert len(hits) == 1     # random pixels: the window is unique.
    flip, oy, ox = hits[0]
    seen.add(hits[0])

    def window(x):
      x = x[oy:oy + 16, ox:ox + 24]
      return x[:, ::-1] if flip else x
    np.testing.assert_array_equal(pixels[1], window(ref[0]))
    np.testing.assert_array_equal(sem[0, :16, :24], window(key[1]))
    np.testing.assert_array_equal(sem[1, :16, :24], window(ref[1]))
    np.testing.assert_array_equal(ins[0, :16, :24], window(key[2]))
    np.testing.assert_array_equal(ins[1, :16, :24], window(ref[2]))
  flips = {h[0] for h in seen}
  assert flips == {False, True} and len(seen) >= 8   # the draws do vary.


def test_scaling_is_shared_and_deterministic():
  rng = np.random.default_rng(1)
  key = _frame(rng)
  params = _params(scale_range=(0.5, 2.0), crop_size=(30, 50))
  a = _run([key, key], [3, 4], params)
  b = _run([key, key], [3, 4], params)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  for x in a:   # identical input frames stay identical after any draw.
    np.testing.assert_array_equal(x[0], x[1])
  sizes = set()
  for s in range(10):
    padding = _run([key, key], [s, 0], params)[3]
    sizes.add((int((~padding[0]).any(1).sum()), int((~padding[0]).any(0).sum())))
  assert len(sizes) > 3


def test_rescale_size_matches_mmcv_keep_ratio():
  # KITTI frame 375x1242 to (384, 1248) at ratio 1: factor min(1248/1242,
  # 384/375) = 1.00483 -> (377, 1248); at ratio 0.5 -> (188, 624).
  # At ratio 0.7 the target (268.8, 873.6) is truncated to (268, 873) first:
  # factor min(873/1242, 268/375) = 0.70290 -> (264, 873).
  for ratio, expected in ((1.0, (377, 1248)), (0.5, (188, 624)),
                          (2.0, (754, 2496)), (0.7, (264, 873))):
    h, w = augment.rescale_size(tf.constant(375), tf.constant(1242),
                                tf.constant(ratio), (384, 1248))
    assert (int(h), int(w)) == expected


def test_crops_are_redrawn_until_key_and_reference_share_a_thing():
  h, w = 24, 40
  image = np.zeros((h, w, 3), np.uint8)
  sem = np.zeros((h, w), np.int32)
  ins = np.zeros((h, w), np.int32)
  sem[:, :6], ins[:, :6] = 11, 1          # person 1 only at the left border.
  ref_sem, ref_ins = sem.copy(), ins.copy()
  ref_sem[:, 30:], ref_ins[:, 30:] = 13, 2   # a car only the reference has.
  params = dict(crop_size=(24, 12), flip_prob=0.0)
  hits_plain = hits_required = 0
  for s in range(20):
    _, sem_p, ins_p, _ = _run([(image, sem, ins), (image, ref_sem, ref_ins)],
                              [s, 1], _params(**params))
    hits_plain += bool((ins_p[0] == 1).any())
    _, sem_r, ins_r, _ = _run([(image, sem, ins), (image, ref_sem, ref_ins)],
                              [s, 1], _params(require_shared_thing=True,
                                              crop_attempts=40, **params))
    hits_required += bool((ins_r[0] == 1).any() and (ins_r[1] == 1).any())
  assert hits_plain < 15          # a plain crop often misses the person.
  assert hits_required == 20
