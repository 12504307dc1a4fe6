"""RoI-Align with static shapes: hand-computed cases, the level map, mask boxes,
and a scalar transliteration of mmcv's kernel (tests/convert/torch_reference)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from video_knet_jax.models import roi_align

# f[y, x] = 10 y + x on a 4 x 4 map: bilinear sampling of a linear map is exact,
# so a bin's mean is the value at the mean of its sample positions.
RAMP = (10 * np.arange(4)[:, None] + np.arange(4)[None, :]).astype(np.float32)[..., None]


def _align(boxes, output_size, feats=RAMP, scale=1.0):
  return np.asarray(roi_align.roi_align(jnp.asarray(feats), jnp.asarray(boxes, jnp.float32),
                                        scale, output_size, 2))[..., 0]


def test_interior_box_by_hand():
  # Box (1, 1)-(3, 3), aligned: grid from 0.5 to 2.5. One bin: samples at 1.0
  # and 2.0 on each axis -> mean position (1.5, 1.5) -> 16.5. Two bins: sample
  # pairs (0.75, 1.25) and (1.75, 2.25) -> positions 1 and 2.
  np.testing.assert_allclose(_align([[1, 1, 3, 3]], 1), [[[16.5]]], rtol=1e-6)
  np.testing.assert_allclose(_align([[1, 1, 3, 3]], 2), [[[11, 12], [21, 22]]], rtol=1e-6)


def test_border_rules_by_hand():
  # x grid 2.5..4.5: samples 3.0 and 4.0 both read column 3 (4.0 <= W is
  # clamped to the last pixel). y grid -0.5..0.5: sample -0.25 is clamped to
  # row 0, sample 0.25 reads 0.75 row 0 + 0.25 row 1 -> mean row 0.125.
  np.testing.assert_allclose(_align([[3, 0, 5, 1]], 1), [[[4.25]]], rtol=1e-6)
  # Samples at x = -4 and -3 lie beyond -1: they contribute 0.
  np.testing.assert_allclose(_align([[-4, 0, -2, 1]], 1), [[[0.0]]], atol=1e-7)
  # spatial_scale 1/2: box (2, 2)-(6, 6) is (0.5, 0.5)-(2.5, 2.5) on the map.
  np.testing.assert_allclose(_align([[2, 2, 6, 6]], 1, scale=0.5), [[[16.5]]], rtol=1e-6)


def test_levels_follow_the_finest_scale():
  sides = [1.0, 55.0, 56.0, 111.0, 112.0, 224.0, 448.0, 2000.0]
  boxes = jnp.asarray([[0.0, 0.0, s, s] for s in sides])
  assert np.asarray(roi_align.roi_levels(boxes, 4)).tolist() == [0, 0, 0, 0, 1, 2, 3, 3]


def test_multi_level_picks_each_boxs_own_level():
  rng = np.random.default_rng(0)
  levels = [rng.normal(size=(64 // s, 64 // s, 3)).astype(np.float32) for s in (4, 8, 16, 32)]
  boxes = np.asarray([[2, 3, 20, 30], [0, 0, 200, 150], [10, 5, 250, 250], [0, 0, 500, 500]],
                     np.float32)
  assert np.asarray(roi_align.roi_levels(jnp.asarray(boxes), 4)).tolist() == [0, 1, 2, 3]
  out = roi_align.multi_level_roi_align([jnp.asarray(l) for l in levels], (4, 8, 16, 32),
                                        jnp.asarray(boxes), 7, 2)
  for k, level in enumerate(np.asarray(roi_align.roi_levels(jnp.asarray(boxes), 4))):
    alone = roi_align.roi_align(jnp.asarray(levels[level]), jnp.asarray(boxes[k:k + 1]),
                                1.0 / (4, 8, 16, 32)[level], 7, 2)
    np.testing.assert_allclose(out[k], alone[0], rtol=1e-5, atol=1e-5)


def test_mask_boxes_by_hand():
  masks = np.zeros((3, 6, 12), np.uint8)
  masks[0, 1:3, 2:6] = 1   # cx 3.5, mean |x - cx| 1.0; cy 1.5, mean |y - cy| 0.5 -> 1.
  masks[1, 0, :10] = 1     # cx 4.5, mean |x - cx| 2.5; a single row -> sy 1.
  boxes = np.asarray(roi_align.mask_boxes(jnp.asarray(masks)))
  np.testing.assert_allclose(boxes[0], [1.5, 0.0, 5.5, 3.5])      # y1 -0.5 clamped.
  np.testing.assert_allclose(boxes[1], [0.0, 0.0, 9.5, 2.0])      # x1 -0.5, y1 -2 clamped.
  np.testing.assert_allclose(boxes[2], [0.0, 0.0, 0.0, 0.0])      # empty.


def test_equals_mmcv_kernel_transliteration():
  torch = pytest.importorskip("torch")
  from tests.convert.torch_reference import track_embed  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(1)
  feats = rng.normal(size=(9, 11, 4)).astype(np.float32)
  boxes = np.asarray([[0.3, 1.7, 30.2, 20.9], [-3, -2, 5, 4], [40, 30, 47, 40],
                      [12, 8, 12.5, 8.2], [0, 0, 0, 0]], np.float32)
  got = np.asarray(roi_align.roi_align(jnp.asarray(feats), jnp.asarray(boxes), 0.25, 7, 2))
  feat_t = torch.from_numpy(feats).permute(2, 0, 1)
  for k, box in enumerate(boxes):
    want = track_embed.roi_align(feat_t, box, 0.25, 7, 2).permute(1, 2, 0).numpy()
    np.testing.assert_allclose(got[k], want, rtol=1e-5, atol=1e-5, err_msg=str(box))


def test_jit_has_static_shapes():
  f = jax.jit(lambda x, b: roi_align.roi_align(x, b, 0.5, 7, 2))
  out = f(jnp.zeros((8, 8, 2)), jnp.zeros((5, 4)))
  assert out.shape == (5, 7, 7, 2)
