"""Chunked whole-video KNetTrack inference equals the one-call pass."""
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

from video_knet_jax.inference import vis_inference
from video_knet_jax.models import knet_track

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "configs"))
import youtube_vis  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_chunked_pass_equals_the_whole_clip_pass():
  config = youtube_vis.get_config("debug")
  config.model.num_stages = 1               # fewer stages: less to compile.
  config.model.tracker.num_stages = 2       # one clip-level, one per-frame.
  model = knet_track.build_model(config)
  rng = np.random.default_rng(0)
  clip = rng.normal(size=(1, 3, 32, 32, 3)).astype(np.float32)
  weights = np.asarray([[1, 1, 0]], np.float32)     # one padded frame.
  # Random weights from the shapes (no init compile): BN var 1, the rest N(0, 0.1).
  abstract = jax.eval_shape(model.init, jax.random.key(0), jnp.asarray(clip[:, :1]))
  variables = jax.tree_util.tree_map_with_path(
      lambda path, s: (np.ones(s.shape, s.dtype) if "var" in str(path[-1])
                       else 0.1 * rng.normal(size=s.shape).astype(s.dtype)), abstract)
  whole = vis_inference.make_predict_fn(model)(variables, clip, weights)
  # 3 frames in chunks of 2: the last chunk is zero-padded.
  chunked = vis_inference.make_predict_fn(model, frame_chunk=2)(variables, clip, weights)
  assert chunked[1].shape == whole[1].shape == (3, 8, 4, 4)
  np.testing.assert_allclose(chunked[0], whole[0], atol=1e-5)
  np.testing.assert_allclose(chunked[1], whole[1], atol=1e-4)
