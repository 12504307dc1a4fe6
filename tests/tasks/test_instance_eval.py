"""instance_eval.picture: a bounded strip of frames with the top tracks painted on."""
import numpy as np
from pycocotools import mask as mask_utils

from video_knet_jax.tasks import instance_eval


def _rle(mask):
  rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
  return {"size": list(mask.shape), "counts": rle["counts"].decode("ascii")}


def test_picture_shows_at_most_max_frames_evenly_spaced():
  t, h, w = 10, 6, 5
  frames = np.zeros((t, h, w, 3), np.uint8)
  frames[:, 0, 0, 0] = np.arange(t)          # each frame marked by its index.
  mask = np.zeros((h, w), bool)
  mask[2:4, 1:3] = True
  segs = [None] * t
  segs[9] = _rle(mask)                         # the track is on the last frame only.
  out = instance_eval.picture(frames, [{"score": 0.9, "segmentations": segs}],
                        max_frames=8)
  assert out.shape == (h, 8 * w, 3)
  shown = out[0, ::w, 0]                       # the marks of the shown frames.
  np.testing.assert_array_equal(shown, [0, 1, 3, 4, 5, 6, 8, 9])
  painted = out[:, 7 * w:].any(-1)
  np.testing.assert_array_equal(painted[1:], mask[1:])
  assert not out[:, :7 * w][2:4].any()         # no paint where the track is absent.
  short = instance_eval.picture(frames[:3], [], max_frames=8)
  assert short.shape == (h, 3 * w, 3)
