"""The original's thing-first / stuff-first merges: a hand-made frame and equality
with a transliteration of `merge_stuff_thing_{thing,stuff}_first`."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.inference.test_panoptic_merge import _hand_frame
from tests.inference.test_panoptic_merge import _settings
from video_knet_jax.inference import panoptic_merge as pm

_merge = jax.jit(pm.panoptic_merge, static_argnums=(3, 4))
V = 255


def _run(merge, **kw):
  mask_logits, cls = _hand_frame()
  settings = _settings(merge=merge, iou_thr=0.5, stuff_max_area=3, **kw)
  return _merge(jnp.asarray(mask_logits), jnp.asarray(cls), jnp.array([4, 6]), (4, 6), settings)


def test_thing_first_by_hand():
  res = _run("thing_first")
  # Things by score: T0 car paints its 4 pixels; T3 person finds 4 of its 6
  # taken (> 0.5) and T1's car duplicate all of its, both skipped; T1 person
  # paints; T2 is below instance_score_thr. Stuff 2 then keeps its 6 untaken
  # pixels, stuff 3 its 8 (>= stuff_max_area 3).
  np.testing.assert_array_equal(np.asarray(res.segment_map), [
      [5, 5, 5, 2, 2, 5],
      [0, 0, 5, 2, 2, 5],
      [0, 0, 6, 6, 6, -1],
      [6, 6, 6, 6, 6, -1]])
  np.testing.assert_array_equal(np.asarray(res.semantic), [
      [0, 0, 0, 1, 1, 0],
      [3, 3, 0, 1, 1, 0],
      [3, 3, 2, 2, 2, V],
      [2, 2, 2, 2, 2, V]])
  np.testing.assert_array_equal(np.asarray(res.segment_kernel), [0, 3, 1, 1, 2, 4, 5])
  np.testing.assert_array_equal(np.asarray(res.segment_kept),
                                [True, False, True, False, False, True, True])
  np.testing.assert_array_equal(np.asarray(res.segment_area), [4, 2, 4, 0, 2, 6, 8])


def test_stuff_first_by_hand():
  res = _run("stuff_first")
  # Stuff 2 and 3 take their 8 and 10 pixels; T0 and T3 then lie wholly under
  # stuff, only T1 (person) finds free pixels.
  np.testing.assert_array_equal(np.asarray(res.segment_map), [
      [0, 0, 0, 4, 4, 0],
      [0, 0, 0, 4, 4, 0],
      [1, 1, 1, 1, 1, -1],
      [1, 1, 1, 1, 1, -1]])
  np.testing.assert_array_equal(np.asarray(res.segment_kernel), [4, 5, 0, 3, 1, 1, 2])
  np.testing.assert_array_equal(np.asarray(res.segment_is_thing),
                                [False, False, True, True, True, True, True])
  np.testing.assert_array_equal(np.asarray(res.segment_kept),
                                [True, True, False, False, True, False, False])


def test_stuff_below_max_area_stays_void():
  mask_logits, cls = _hand_frame()
  res = _merge(jnp.asarray(mask_logits), jnp.asarray(cls), jnp.array([4, 6]), (4, 6),
               _settings(merge="thing_first", iou_thr=0.5, stuff_max_area=9))
  # Stuff 2 has 6 untaken pixels (< 9), stuff 3 has 8 (< 9): both void.
  assert not np.asarray(res.segment_kept)[5:].any()
  assert (np.asarray(res.semantic)[3, :5] == V).all()


def _reference(thing_masks, thing_labels, thing_scores, stuff_masks, stuff_labels,
               stuff_scores, settings, things_first):
  """Transliteration of the original's two loops on binary masks (numpy)."""
  pan = np.zeros(thing_masks.shape[1:], np.int64)
  classes = []

  def things():
    for i in np.argsort(-thing_scores, kind="stable"):
      if thing_scores[i] < settings.instance_score_thr:
        break
      mask = thing_masks[i]
      if mask.sum() == 0:
        continue
      if (mask & (pan > 0)).sum() / mask.sum() > settings.iou_thr:
        continue
      mask = mask & (pan == 0)
      if mask.sum() == 0:
        continue
      classes.append(thing_labels[i])
      pan[mask] = len(classes)

  def stuff():
    for i in np.argsort(-stuff_scores, kind="stable"):
      mask = stuff_masks[i] & (pan == 0)
      if mask.sum() < settings.stuff_max_area:
        continue
      classes.append(stuff_labels[i])
      pan[mask] = len(classes)

  for part in ((things, stuff) if things_first else (stuff, things)):
    part()
  return pan, classes


@pytest.mark.parametrize("merge", ["thing_first", "stuff_first"])
@pytest.mark.parametrize("padded", [(40, 56), (43, 54)])   # phase planes; plain-map fallback.
@pytest.mark.parametrize("seed", [0, 1])
def test_equals_the_original_loops(merge, seed, padded):
  rng = np.random.default_rng(seed)
  num_props, num_things, num_stuff, h, w = 6, 2, 3, 5, 7
  settings = _settings(max_per_img=8, mask_upsample_stride=4, merge=merge, iou_thr=0.5,
                       stuff_max_area=40, train_ids=pm.class_to_train_id(5, (1, 3)))
  mask_logits = rng.normal(0, 3, (num_props + num_stuff, h, w)).astype(np.float32)
  cls = rng.normal(-0.5, 1.5, (num_props + num_stuff, 5)).astype(np.float32)
  image_hw = (37, 50)
  res = _merge(jnp.asarray(mask_logits), jnp.asarray(cls), jnp.array(image_hw), padded,
               settings)

  scores = (1 / (1 + np.exp(-cls.astype(np.float64)))).astype(np.float32)
  pairs = scores[:num_props, :num_things].reshape(-1)
  top = np.argsort(-pairs, kind="stable")[:8]
  stuff_diag = np.diagonal(scores[num_props:, num_things:])
  prob = np.asarray(pm.candidate_probabilities(jnp.asarray(mask_logits), padded, 4))
  valid = np.zeros(padded, bool)
  valid[:image_hw[0], :image_hw[1]] = True
  binary = (prob > settings.mask_thr) & valid
  pan, classes = _reference(binary[top // num_things], top % num_things, pairs[top],
                            binary[num_props:], num_things + np.arange(num_stuff), stuff_diag,
                            settings, merge == "thing_first")
  kept = np.asarray(res.segment_kept)
  assert 0 < kept.sum() < len(kept), "the random case should keep some and drop some"
  renumber = np.zeros(len(kept), np.int64)
  renumber[kept] = np.arange(1, kept.sum() + 1)
  seg_map = np.asarray(res.segment_map)
  np.testing.assert_array_equal(np.where(seg_map >= 0, renumber[np.maximum(seg_map, 0)], 0), pan)
  np.testing.assert_array_equal(np.asarray(res.segment_class)[kept], classes)


def test_unknown_merge_is_an_error():
  from video_knet_jax.configs import kitti_step  # pylint: disable=g-import-not-at-top
  config = kitti_step.get_config()
  config.inference.merge = "panoptic_fpn"
  with pytest.raises(ValueError, match="config.inference.merge='panoptic_fpn'"):
    pm.merge_settings_from_config(config)
