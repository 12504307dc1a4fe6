"""The PyTorch online frame of the benchmark does the project's per-frame work.

`torch_reference/online.py` transliterates the original's merge, semantic
filter, boxes and quasi-dense tracker; `benchmark --mode=inference
--torch_reference` times it as the original's online frame. On the same
network outputs over a few frames it must give the project predictor's
semantic map (where the project's is not void: the original paints void
pixels as class 0) and track ids.
"""
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from tests.convert.torch_reference import online
from video_knet_jax import common
from video_knet_jax.inference import predictor as predictor_lib

pytestmark = pytest.mark.torch


class _FixedOutputs:
  """A stand-in model: apply() returns the frame's outputs given at call time."""

  def __init__(self):
    self.outputs = None

  def apply(self, variables, image, previous_kernels=None, train=False):
    del variables, image, previous_kernels, train
    return {k: jnp.asarray(v) for k, v in self.outputs.items()}


def _frame_outputs(rng, cfg, hw, shift):
  """Three stuff bands (rows) and three confident things moving right by
  `shift` cells; the other kernels are confidently empty."""
  m = cfg.model
  p, nt, ns = m.num_proposals, m.num_thing_classes, m.num_stuff_classes
  h, w = hw[0] // 8, hw[1] // 8
  masks = np.full((p + ns, h, w), -8, np.float32)
  cls = np.full((p + ns, nt + ns), -6, np.float32)
  for j in range(3):                                        # stuff bands.
    masks[p + j, 2 * j:2 * j + 2] = 6
    cls[p + j, nt + j] = 6
  embeds = rng.normal(0, 0.1, (p, 8)).astype(np.float32)
  for k in range(3):                                        # things 0..2.
    x0 = 2 + 5 * k + shift
    masks[k, 1:4, x0:x0 + 2] = 8
    cls[k, k % nt] = 7 - 0.3 * k                            # distinct scores.
    embeds[k] += 5 * np.eye(8)[k]
  seg = np.where(np.arange(nt + ns) < nt, 4.0, 0.0).astype(np.float32)
  return {common.MASK_LOGITS: masks[None], common.CLS_LOGITS: cls[None],
          common.RPN_SEG_LOGITS: np.broadcast_to(seg[None, :, None, None],
                                                 (1, nt + ns, h, w)).copy(),
          common.KERNELS: np.zeros((1, p + ns, 4), np.float32),
          common.TRACK_EMBEDDINGS: embeds[None]}


def test_torch_online_frames_equal_project_predictor():
  from tests.convert import model_fixtures  # pylint: disable=g-import-not-at-top
  cfg = model_fixtures.config(link_all_stages=False)
  cfg.model.num_proposals = 6
  cfg.inference.max_per_img = 12
  cfg.model.temporal.embed_channels = 8
  hw = (48, 192)
  model = _FixedOutputs()
  predictor = predictor_lib.VideoPredictor(model, {}, cfg)
  state = predictor.init_tracker_state(hw)
  frames = online.OnlineFrames(online.OnlineHparams.from_config(cfg))
  rng = np.random.default_rng(0)
  kernels = None
  seen = set()
  for t in range(3):
    model.outputs = _frame_outputs(rng, cfg, hw, shift=t)
    predictor._step = predictor._frame_fn   # pylint: disable=protected-access  (new constants per frame)
    semantic, ids, kernels, state = predictor.step(
        np.zeros((1, *hw, 3), np.float32), hw, kernels, state, t)
    semantic, ids = np.asarray(semantic), np.asarray(ids)
    out = {k: torch.from_numpy(v) for k, v in model.outputs.items()}
    out["mask_logits"], out["cls_logits"] = out[common.MASK_LOGITS], out[common.CLS_LOGITS]
    ref_semantic, ref_ids, segments, _ = frames.postprocess(out, hw, hw, t)
    known = semantic != 255
    assert known.mean() > 0.5
    np.testing.assert_array_equal(semantic[known], ref_semantic[known], err_msg=f"frame {t}")
    np.testing.assert_array_equal(ids, ref_ids, err_msg=f"frame {t}")
    assert sum(s["isthing"] for s in segments) == 3
    seen |= set(np.unique(ids).tolist()) - {0}
  assert seen == {1, 2, 3}, seen   # the same three ids on every frame.
