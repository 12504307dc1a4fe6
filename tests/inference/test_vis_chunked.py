"""The bounded (chunk-by-chunk) whole-video KNetTrack pass equals the one-call
pass; whole-video prediction runs each video on the original's canvas."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from video_knet_jax.datasets.youtube_vis import generate
from video_knet_jax.inference import vis_bounded
from video_knet_jax.inference import vis_inference
from video_knet_jax.models import knet_track

from video_knet_jax.configs import youtube_vis


def _tiny(tracker_stages):
  config = youtube_vis.get_config("debug")
  config.model.num_stages = 1               # fewer stages: less to compile.
  config.model.tracker.num_stages = tracker_stages
  return config


def _random_variables(model, rng, image_size):
  """Random weights from the shapes (no init compile): norm scales and BN
  variances 1, other vectors N(0, 0.1), kernels N(0, 1/fan_in) (so that the
  queries' masks and scores differ)."""
  abstract = jax.eval_shape(model.init, jax.random.key(0),
                            jnp.zeros((1, 1, *image_size, 3), jnp.float32))
  def fill(path, s):
    if str(path[-1]) in ("['var']", "['scale']"):
      return np.ones(s.shape, s.dtype)
    if len(s.shape) == 1:
      return 0.1 * rng.normal(size=s.shape).astype(s.dtype)
    return (rng.normal(size=s.shape) / np.sqrt(np.prod(s.shape[:-1]))).astype(s.dtype)
  return jax.tree_util.tree_map_with_path(fill, abstract)


@pytest.mark.parametrize("tracker_stages", [3, 2])
def test_bounded_pass_equals_the_whole_clip_pass(tracker_stages):
  model = knet_track.build_model(_tiny(tracker_stages))
  rng = np.random.default_rng(0)
  variables = _random_variables(model, rng, (32, 32))
  frames = rng.normal(size=(7, 32, 32, 3)).astype(np.float32)
  # The one-call reference, as the video was run before: padded to a bucket of
  # 4 (8 frames), the padded frame with weight 0.
  clip = np.concatenate([frames, np.zeros_like(frames[:1])])[None]
  out = model.apply(variables, clip, np.asarray([[1] * 7 + [0]], np.float32))
  want_scores = jax.nn.sigmoid(out[knet_track.CLIP_CLS_LOGITS][-1][0])
  want_masks = out[knet_track.CLIP_MASK_LOGITS][-1][:7]           # [7, N, 4, 4]

  loads = []
  def load(start, stop):
    loads.append((start, stop))
    return frames[start:stop]

  predict = vis_bounded.make_predict_fn(model)
  # Chunks of 3: [0, 3), [3, 6), [6, 7) zero-padded to 3 frames.
  got = list(predict(variables, load, 7, 3))
  assert sorted(start for start, _, _ in got) == [0, 3, 6]
  masks = np.concatenate([m for _, _, m in sorted(got, key=lambda g: g[0])])
  assert masks.shape == want_masks.shape == (7, 8, 4, 4)
  for _, scores, _ in got:
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)
  np.testing.assert_allclose(masks, want_masks, atol=1e-4, rtol=1e-4)
  # The frame part ran S*n - (S-1) times (n = 3 chunks): the last chunk of a
  # pass is reused by the next one.
  assert len(loads) == tracker_stages * 3 - (tracker_stages - 1)

  # One chunk = the whole video: the frame part runs once.
  loads.clear()
  (start, scores, masks), = predict(variables, load, 7, 8)
  assert start == 0 and len(loads) == 1
  np.testing.assert_allclose(scores, want_scores, atol=1e-5)
  np.testing.assert_allclose(masks, want_masks, atol=1e-4, rtol=1e-4)


def test_results_entries_are_the_same_chunked_and_unchunked():
  config = _tiny(3)
  model = knet_track.build_model(config)
  variables = _random_variables(model, np.random.default_rng(1), tuple(config.data.test_size))
  frames, _, _ = generate.render_video(generate.YouTubeVisSpec(frames_per_video=7), 0)
  whole = vis_inference.predict_video(vis_inference.make_predict_fn(model), variables,
                                      frames, 5, config)
  chunked = vis_inference.predict_video(vis_inference.make_predict_fn(model, 3), variables,
                                        frames, 5, config)
  assert len(whole) == len(chunked) == config.inference.max_per_video
  for a, b in zip(whole, chunked):
    assert (a["video_id"], a["category_id"]) == (b["video_id"], b["category_id"]) == (
        5, a["category_id"])
    assert b["score"] == pytest.approx(a["score"], abs=1e-5)
    assert len(b["segmentations"]) == len(a["segmentations"]) == 7
    decode = lambda seg: mask_utils.decode({"size": seg["size"],
                                            "counts": seg["counts"].encode()})
    ma = np.stack([decode(s) for s in a["segmentations"]])
    mb = np.stack([decode(s) for s in b["segmentations"]])
    assert ma.shape == (7, *frames.shape[1:3])
    assert len({int(m.sum()) for m in ma}) > 1   # frames differ: order matters.
    assert np.mean(ma != mb) < 1e-3          # float ties at mask_thr only.


@pytest.mark.parametrize("hw, resized, canvas", [
    ((120, 72), (96, 58), (96, 64)),    # portrait: long edge 120 -> 96 (test_size 64x96).
    ((60, 80), (64, 85), (64, 96)),     # 4:3: short edge 60 -> 64, 85.33 -> 85.
])
def test_predict_video_runs_each_video_on_its_own_padded_canvas(hw, resized, canvas):
  """As the original's Resize(img_scale, keep_ratio) + SeqPad(32): the model
  sees the frames resized by mmcv's rule and padded to a multiple of 32 of
  that size (not a fixed canvas), and the masks come back at the video's size."""
  config = _tiny(2)
  assert tuple(config.data.test_size) == (64, 96)
  model = knet_track.build_model(config)
  variables = _random_variables(model, np.random.default_rng(3), canvas)
  frames = np.random.default_rng(4).integers(0, 256, (3, *hw, 3), np.uint8)
  bounded = vis_inference.make_predict_fn(model)
  seen = []

  def spy(variables, load, num_frames, frame_bucket):
    def recording_load(start, stop):
      x = load(start, stop)
      seen.append(x)
      return x
    return bounded(variables, recording_load, num_frames, frame_bucket)

  results = vis_inference.predict_video(spy, variables, frames, 1, config)
  assert [x.shape for x in seen] == [(3, *canvas, 3)]
  h, w = resized
  assert (seen[0][:, :h, :w] != 0).any(axis=(0, 3)).all()   # the image fills (h, w).
  assert not seen[0][:, h:].any() and not seen[0][:, :, w:].any()
  assert len(results) == config.inference.max_per_video
  for r in results:
    assert [s["size"] for s in r["segmentations"]] == [list(hw)] * 3
