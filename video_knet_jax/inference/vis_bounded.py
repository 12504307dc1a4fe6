"""Whole-video KNetTrack inference in memory bounded by a chunk of frames.

The clip stages of KNetTrack (models/knet_track.py, extensions 3.3) need, per
stage, means over ALL frames: the clip kernels Kc = mean_t obj_t, and for
clip stage s the pooled features A_s = mean_t pool_s(masks_{s-1,t}, X_t),
where masks_{s-1,t} depends on the previous stage's clip kernels. So a video
cannot be streamed once; it is swept S times (S = tracker.num_stages),
frame chunks of static size F (the last one zero-padded, weight 0):

  pass 0:        frame part -> accumulate sum_t obj_t and sum_t pool_0
  pass p < S-1:  frame part -> clip stages 0..p-1 with the known (Kc, A_<p)
                 -> accumulate sum_t pool_p
  pass S-1:      frame part -> clip stages 0..S-2 -> per-frame stage S-1
                 -> scores [N, C] and this chunk's mask logits [F, N, h, w]

Only the sums ([N, D] each) persist between chunks; features, masks and
activations live for one chunk. Compute for memory: the frame part
(backbone, FPN, rpn, per-frame stages) is recomputed in every pass. Passes
run the chunks alternately forwards and backwards and reuse the last chunk's
frame part, so with n chunks it runs S*n - (S-1) times: S times per frame for
long videos, once when the whole video is one chunk (frame_chunk 0). The sums
equal the one-call clip means up to float summation order.
"""
import functools
from typing import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from video_knet_jax.models import knet_track


def _chunk_pass(model, num_passes: int, p: int, variables, frame_out, weights, state):
  """Pass p on one chunk. state = (Kc [1, N, D], (A_0, .., A_{p-1}) [1, N, D]).

  Returns the chunk's weighted sums (pass 0: (sum obj, sum pool_0); pass
  0 < p < S-1: sum pool_p, each [1, N, D]) or, in the last pass, (scores
  [N, C], mask logits [F, N, h, w]).
  """
  x_feats, obj, masks = frame_out
  stage = functools.partial(model.apply, variables, method=knet_track.KNetTrack.clip_stage)
  weighted_sum = lambda v: jnp.einsum("t...,t->...", v, weights)[None]
  if p == 0:
    return weighted_sum(obj), weighted_sum(stage(0, x_feats, None, masks, pool_only=True))
  kernels, assembled = state
  every_frame = jnp.ones((1, x_feats.shape[0]), jnp.float32)  # one clip, F frames.
  for s in range(p):                    # the clip stages whose means are known.
    cls, masks, kernels, _ = stage(s, x_feats, kernels, None, every_frame,
                                   assembled=assembled[s])
  if p < num_passes - 1:
    return weighted_sum(stage(p, x_feats, None, masks, pool_only=True))
  frame_kernels = jnp.repeat(kernels, x_feats.shape[0], axis=0)           # [F, N, D]
  _, masks, _, _ = stage(p, x_feats, frame_kernels, masks)
  return jax.nn.sigmoid(cls[0]), masks


def make_predict_fn(model: knet_track.KNetTrack):
  """-> predict(variables, load, num_frames, chunk) yielding, chunk by chunk,
  (start, scores [N, C], mask logits [n, N, h, w] of frames start..start+n-1).

  load(start, stop) returns the preprocessed frames [stop - start, H, W, 3]
  (normalised, padded to a multiple of 32); every chunk is `chunk` frames
  (one compiled shape), the last one zero-padded. Scores are the same in
  every chunk (the clip-level classes of the last clip stage). The chunks
  come in frame order when S is odd (the default 3), else in reverse order.
  """
  num_passes = int(model.config.tracker.num_stages)
  if num_passes < 2:
    raise ValueError(f"config.model.tracker.num_stages={num_passes}: the bounded pass "
                     "needs at least one clip-level stage and the per-frame one.")
  frame_part = jax.jit(functools.partial(model.apply, method=knet_track.KNetTrack.frame_part))
  passes = [jax.jit(functools.partial(_chunk_pass, model, num_passes, p))
            for p in range(num_passes)]

  def predict(variables, load: Callable[[int, int], np.ndarray], num_frames: int,
              chunk: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    if chunk < 1:
      raise ValueError(f"Bounded whole-video inference needs a chunk >= 1, got {chunk}.")
    if num_frames < 1:
      raise ValueError(f"A video needs at least one frame, got {num_frames}.")
    starts = list(range(0, num_frames, chunk))
    cached = (None, None)                    # (start, frame part) of one chunk.

    def frame_outputs(start):
      nonlocal cached
      if cached[0] != start:
        frames = load(start, min(start + chunk, num_frames))
        pad = np.zeros((chunk - frames.shape[0], *frames.shape[1:]), frames.dtype)
        cached = (start, frame_part(variables, np.concatenate([frames, pad])))
      return cached[1]

    def weights(start):
      return (start + np.arange(chunk) < num_frames).astype(np.float32)

    count = float(num_frames)           # frame weights are 1, padding 0.
    state = (None, ())
    for p in range(num_passes):
      order = starts if p % 2 == 0 else starts[::-1]
      if p == num_passes - 1:
        for start in order:
          scores, masks = passes[p](variables, frame_outputs(start), weights(start), state)
          n = min(chunk, num_frames - start)
          yield start, np.asarray(scores), np.asarray(masks[:n])
        return
      sums = None
      for start in order:
        part = passes[p](variables, frame_outputs(start), weights(start), state)
        sums = part if sums is None else jax.tree_util.tree_map(jnp.add, sums, part)
        # Wait for the chunk: async dispatch would otherwise run ahead and keep
        # many chunks' inputs and activations alive (memory growing with T).
        sums = jax.block_until_ready(sums)
      if p == 0:
        state = (sums[0] / count, (sums[1] / count,))
      else:
        state = (state[0], state[1] + (sums / count,))
  return predict
