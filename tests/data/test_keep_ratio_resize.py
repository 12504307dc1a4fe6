"""The original's keep-ratio resize: mmcv's size rule by hand, filters against cv2.resize."""
import os
import sys

import cv2
import numpy as np
import pytest

from video_knet_jax.data import keep_ratio_resize
from video_knet_jax.inference import vis_inference

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "configs"))
import youtube_vis  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(params=[False, True], ids=["cv2-plain", "cv2-ipp"])
def ipp(request):
  """OpenCV with and without IPP (wheels use IPP by default; its float
  bilinear differs from the plain kernel by rounding only)."""
  before = cv2.ipp.useIPP()
  cv2.ipp.setUseIPP(request.param)
  yield request.param
  cv2.ipp.setUseIPP(before)


@pytest.mark.parametrize("hw, scale, want", [
    ((720, 1280), (640, 360), (360, 640)),     # landscape: 2x down.
    ((1280, 720), (640, 360), (640, 360)),     # portrait: long edge <= 640.
    ((480, 640), (640, 360), (360, 480)),      # 4:3: short edge 360 binds.
    ((1080, 1920), (360, 640), (360, 640)),    # either order of img_scale.
    ((576, 1025), (288, 1e6), (288, 513)),     # 512.5 -> 513 (int(x + 0.5); round() gives 512).
    ((361, 640), (640, 360), (360, 638)),      # 638.23 -> 638.
])
def test_rescale_size_is_mmcvs_rule(hw, scale, want):
  assert keep_ratio_resize.rescale_size(*hw, scale) == want


@pytest.mark.parametrize("hw, want_resized, want_padded", [
    ((720, 1280), (360, 640), (384, 640)),
    ((1280, 720), (640, 360), (640, 384)),
    ((480, 640), (360, 480), (384, 480)),
])
def test_test_canvas_is_the_resized_size_padded_to_32_per_video(hw, want_resized, want_padded):
  config = youtube_vis.get_config()
  assert vis_inference.resized_size(*hw, config) == want_resized
  assert vis_inference.padded_size(*hw, config) == want_padded


@pytest.mark.parametrize("src, dst", [
    ((720, 1280), (360, 640)),    # exactly 2x: cv2 switches to INTER_AREA.
    ((1280, 720), (640, 360)),
    ((480, 640), (360, 480)),
    ((720, 1280), (512, 910)),    # a training scale.
    ((37, 53), (100, 71)),        # up in one axis, down in the other.
    ((1, 5), (3, 9)),
])
def test_bilinear_equals_cv2_on_float32(src, dst, ipp):
  image = np.random.default_rng(0).integers(0, 256, (*src, 3), np.uint8)
  want = cv2.resize(image.astype(np.float32), dst[::-1], interpolation=cv2.INTER_LINEAR)
  got = keep_ratio_resize.bilinear(image, dst)
  assert got.dtype == np.float32 and got.shape == want.shape
  # Plain OpenCV: the same arithmetic; IPP: within 0.05 of 255 grey levels.
  np.testing.assert_allclose(got, want, atol=0.05 if ipp else 1e-3, rtol=0)
  # Frames [T, H, W, 3] as one call, and a single-channel map.
  np.testing.assert_array_equal(keep_ratio_resize.bilinear(np.stack([image, image]), dst)[1], got)
  np.testing.assert_array_equal(keep_ratio_resize.bilinear(image[..., 1], dst), got[..., 1])


@pytest.mark.parametrize("src, dst", [((720, 1280), (360, 640)), ((480, 640), (360, 480)),
                                      ((576, 1025), (288, 513)), ((37, 53), (100, 71))])
def test_nearest_equals_cv2_on_masks(src, dst, ipp):
  del ipp
  mask = np.random.default_rng(1).integers(0, 2, src, np.uint8)
  want = cv2.resize(mask, dst[::-1], interpolation=cv2.INTER_NEAREST)
  got = keep_ratio_resize.nearest(mask, dst)
  assert got.dtype == np.uint8
  np.testing.assert_array_equal(got, want)
  np.testing.assert_array_equal(keep_ratio_resize.nearest(mask[None], dst)[0], want)


@pytest.mark.parametrize("hw, canvas", [((720, 1280), (384, 640)), ((1280, 720), (640, 384)),
                                        ((480, 640), (384, 480))])
def test_test_preprocess_is_cv2_resize_normalised_and_zero_padded(hw, canvas):
  config = youtube_vis.get_config()
  frames = np.random.default_rng(2).integers(0, 256, (2, *hw, 3), np.uint8)
  out, (h, w) = vis_inference.preprocess(frames, config)
  assert out.shape == (2, *canvas, 3)
  cv2.ipp.setUseIPP(False)
  try:
    resized = cv2.resize(frames[1].astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
  finally:
    cv2.ipp.setUseIPP(True)
  want = (resized - np.float32(config.data.mean)) / np.float32(config.data.std)
  np.testing.assert_allclose(out[1, :h, :w], want, atol=1e-4)
  assert not out[:, h:].any() and not out[:, :, w:].any()
