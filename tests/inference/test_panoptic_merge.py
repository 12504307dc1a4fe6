"""Joint panoptic merge: a hand-made frame, and equality with the original's sequential walk."""
import numpy as np
import pytest
import jax
import jax.numpy as jnp

from video_knet_jax.inference import panoptic_merge as pm


_merge = jax.jit(pm.panoptic_merge, static_argnums=(3, 4))


def _logit(p):
  return float(np.log(p / (1 - p)))


def _settings(**kw):
  base = dict(num_thing_classes=2, max_per_img=5, instance_score_thr=0.25, overlap_thr=0.6,
              mask_thr=0.5, mask_upsample_stride=1,
              train_ids=pm.class_to_train_id(4, (1, 3)))
  base.update(kw)
  return pm.MergeSettings(**base)


def _hand_frame():
  """4 thing proposals + 2 stuff kernels on a 4 x 6 grid (see the test for the story)."""
  h, w = 4, 6
  regions = np.zeros((6, h, w), bool)
  regions[0, 1:3, 0:2] = True                  # T0: car 0.9.
  regions[1, 0:2, 3:5] = True                  # T1: person 0.8 (and car 0.7: duplicate).
  regions[2, 2:4, 5] = True                    # T2: person 0.2 (< instance_score_thr).
  regions[3, 1:3, 0:3] = True                  # T3: person 0.85, mostly under T0.
  regions[4, 0:2, 0:3] = True                  # stuff class 2 (0.6).
  regions[4, 0:2, 5] = True
  regions[5, 2:4, 0:5] = True                  # stuff class 3 (0.5).
  mask_logits = np.where(regions, 10.0, -10.0).astype(np.float32)
  cls = np.full((6, 4), _logit(0.01), np.float32)
  cls[0, 1] = _logit(0.9)
  cls[1, 0], cls[1, 1] = _logit(0.8), _logit(0.7)
  cls[2, 0] = _logit(0.2)
  cls[3, 0] = _logit(0.85)
  cls[4, 2] = _logit(0.6)
  cls[5, 3] = _logit(0.5)
  return mask_logits, cls


def test_class_to_train_id_kitti_order():
  ids = pm.class_to_train_id(19, (11, 13))
  assert ids[:2] == (11, 13)
  assert ids[2:] == (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 15, 16, 17, 18)
  with pytest.raises(ValueError, match="thing_train_ids"):
    pm.class_to_train_id(19, (11, 11))


def test_hand_made_frame_gives_expected_map():
  mask_logits, cls = _hand_frame()
  res = _merge(jnp.asarray(mask_logits), jnp.asarray(cls),
                          jnp.array([4, 6]), (4, 6), _settings())
  # trainIds: class 0 (person) -> 1, class 1 (car) -> 3, stuff 2 -> 0, stuff 3 -> 2.
  v = 255
  expected = np.array([
      [0, 0, 0, 1, 1, 0],   # T1 (person) at cols 3-4.
      [3, 3, v, 1, 1, 0],   # T3 loses 4 of 6 pixels to T0: 2/6 < 0.6 -> void.
      [3, 3, v, 2, 2, v],   # T2 wins col 5 but scores 0.2 -> void.
      [2, 2, 2, 2, 2, v]])
  np.testing.assert_array_equal(np.asarray(res.semantic), expected)
  # Segments by descending score: T0 .9, T3 .85, T1/person .8, T1/car .7, s2 .6, s3 .5, T2 .2.
  np.testing.assert_allclose(np.asarray(res.segment_score),
                             [0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.2], rtol=1e-5)
  np.testing.assert_array_equal(np.asarray(res.segment_kernel), [0, 3, 1, 1, 4, 5, 2])
  np.testing.assert_array_equal(np.asarray(res.segment_class), [1, 0, 0, 1, 2, 3, 0])
  np.testing.assert_array_equal(np.asarray(res.segment_kept),
                                [True, False, True, False, True, True, False])
  np.testing.assert_array_equal(np.asarray(res.segment_is_thing),
                                [True, True, True, True, False, False, True])
  np.testing.assert_array_equal(np.asarray(res.segment_area), [4, 2, 4, 0, 5, 7, 2])
  expected_seg = np.array([
      [4, 4, 4, 2, 2, 4],
      [0, 0, -1, 2, 2, 4],
      [0, 0, -1, 5, 5, -1],
      [5, 5, 5, 5, 5, -1]])
  np.testing.assert_array_equal(np.asarray(res.segment_map), expected_seg)


def test_pixels_outside_the_image_are_void_and_not_counted():
  mask_logits, cls = _hand_frame()
  res = _merge(jnp.asarray(mask_logits), jnp.asarray(cls),
                          jnp.array([3, 6]), (4, 6), _settings())
  sem = np.asarray(res.semantic)
  assert (sem[3] == 255).all()
  # Stuff 3 keeps only row 2 cols 3-4 of its 5 visible pixels: 2/5 < 0.6 -> rejected.
  np.testing.assert_array_equal(sem[2], [3, 3, 255, 255, 255, 255])
  np.testing.assert_array_equal(sem[:2], [[0, 0, 0, 1, 1, 0], [3, 3, 255, 1, 1, 0]])


def _reference_walk(prob_things, prob_stuff, thing_scores, thing_labels, stuff_scores,
                    stuff_labels, settings, valid):
  """Transliteration of the original's loop (dynamic, sequential, numpy)."""
  masks = np.concatenate([prob_things, prob_stuff])
  scores = np.concatenate([thing_scores, stuff_scores])
  labels = np.concatenate([thing_labels, stuff_labels])
  ids = np.argmax(scores[:, None, None] * masks, axis=0)
  pan = np.zeros(ids.shape, np.int64)
  seg_classes = []
  for k in np.argsort(-scores, kind="stable"):
    is_thing = labels[k] < settings.num_thing_classes
    if is_thing and scores[k] < settings.instance_score_thr:
      continue
    mask = (ids == k) & valid
    area = mask.sum()
    orig = ((masks[k] >= 0.5) & valid).sum()
    if area > 0 and orig > 0:
      if area / orig < settings.overlap_thr:
        continue
      seg_classes.append(labels[k])
      pan[mask] = len(seg_classes)
  return pan, seg_classes


# Padded sizes: 8x the logits (phase planes), 16x / 8x (two factors), and no
# multiple of the stride-2 map (the plain-map fallback).
@pytest.mark.parametrize("padded", [(40, 56), (80, 56), (43, 54)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_merge_equals_sequential_walk(seed, padded):
  rng = np.random.default_rng(seed)
  num_props, num_things, num_stuff, h, w = 6, 2, 3, 5, 7
  settings = _settings(max_per_img=8, mask_upsample_stride=4,
                       train_ids=pm.class_to_train_id(5, (1, 3)))
  mask_logits = rng.normal(0, 3, (num_props + num_stuff, h, w)).astype(np.float32)
  cls = rng.normal(-0.5, 1.5, (num_props + num_stuff, 5)).astype(np.float32)
  image_hw = (37, 50)
  res = _merge(jnp.asarray(mask_logits), jnp.asarray(cls), jnp.array(image_hw),
                          padded, settings)

  # Reference candidates from numpy; probabilities from the (torch-checked) resize.
  scores = (1 / (1 + np.exp(-cls.astype(np.float64)))).astype(np.float32)
  pairs = scores[:num_props, :num_things].reshape(-1)
  top = np.argsort(-pairs, kind="stable")[:8]
  stuff_diag = np.diagonal(scores[num_props:, num_things:])
  stuff_order = np.argsort(-stuff_diag, kind="stable")
  prob = np.asarray(pm.candidate_probabilities(jnp.asarray(mask_logits), padded, 4))
  valid = np.zeros(padded, bool)
  valid[:image_hw[0], :image_hw[1]] = True
  pan, seg_classes = _reference_walk(
      prob[top // num_things], prob[num_props + stuff_order], pairs[top], top % num_things,
      stuff_diag[stuff_order], num_things + stuff_order, settings, valid)

  seg_map = np.asarray(res.segment_map)
  kept = np.asarray(res.segment_kept)
  assert 0 < kept.sum() < len(kept), "the random case should keep some and drop some"
  # Renumber our kept segments 1.. in walk order and compare the maps.
  renumber = np.zeros(len(kept), np.int64)
  renumber[kept] = np.arange(1, kept.sum() + 1)
  ours = np.where(seg_map >= 0, renumber[np.maximum(seg_map, 0)], 0)
  np.testing.assert_array_equal(ours, pan)
  np.testing.assert_array_equal(np.asarray(res.segment_class)[kept], seg_classes)
  train_ids = np.asarray(settings.train_ids)
  expected_sem = np.where(pan > 0, train_ids[np.array([0] + seg_classes)[pan]], 255)
  np.testing.assert_array_equal(np.asarray(res.semantic), expected_sem)


def test_merge_is_jittable_with_traced_image_size():
  mask_logits, cls = _hand_frame()
  traces = []

  def counted(*args):
    traces.append(1)
    return pm.panoptic_merge(*args)

  f = jax.jit(counted, static_argnums=(3, 4))
  a = f(jnp.asarray(mask_logits), jnp.asarray(cls), jnp.array([4, 6]), (4, 6), _settings())
  b = f(jnp.asarray(mask_logits), jnp.asarray(cls), jnp.array([3, 6]), (4, 6), _settings())
  assert len(traces) == 1
  assert (np.asarray(a.semantic)[3] != 255).any() and (np.asarray(b.semantic)[3] == 255).all()


@pytest.mark.torch
def test_mask_rescale_matches_torch_bilinear():
  torch = pytest.importorskip("torch")
  rng = np.random.default_rng(0)
  logits = rng.normal(0, 2, (3, 5, 7)).astype(np.float32)
  ours = np.asarray(pm.candidate_probabilities(jnp.asarray(logits), (40, 56), 4))
  t = torch.from_numpy(logits)[None]
  t = torch.nn.functional.interpolate(t, scale_factor=4, mode="bilinear", align_corners=False)
  t = torch.nn.functional.interpolate(t.sigmoid(), size=(40, 56), mode="bilinear",
                                      align_corners=False)
  np.testing.assert_allclose(ours, t[0].numpy(), atol=1e-5)
