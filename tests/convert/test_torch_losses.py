"""The PyTorch side of the train-step benchmark computes the project's losses.

`torch_reference/losses.py` is written the way the original computes its
losses (per-image loops, scipy assignment); `benchmark --torch_reference`
times it as the original's training step. Here it must give every named loss
of `video_loss.video_knet_loss` on the same random outputs and batch.
"""
import jax
import numpy as np
import pytest
import torch

from tests.convert.torch_reference import losses as torch_losses
from video_knet_jax import common
from video_knet_jax import random_batch
from video_knet_jax.losses import video_loss

pytestmark = pytest.mark.torch


def _config():
  from tests.convert import model_fixtures  # pylint: disable=g-import-not-at-top
  cfg = model_fixtures.config(link_all_stages=False)
  cfg.model.num_proposals = 10
  cfg.data.max_instances = 6
  return cfg


def test_torch_clip_loss_equals_project():
  cfg = _config()
  m = cfg.model
  b, height, width = 2, 64, 96
  rng = np.random.default_rng(0)
  h, w = height // 8, width // 8
  p, ns = m.num_proposals, m.num_stuff_classes
  nc = m.num_thing_classes + ns

  def frame():
    f = lambda *s: (rng.normal(size=s) * 2).astype(np.float32)
    return {common.RPN_MASK_LOGITS: f(b, p, h, w),
            common.RPN_SEG_LOGITS: f(b, nc, h, w),
            common.STAGE_MASK_LOGITS: f(m.num_stages, b, p + ns, h, w),
            common.STAGE_CLS_LOGITS: f(m.num_stages, b, p + ns, nc),
            common.TRACK_EMBEDDINGS: f(b, p, 8)}

  outputs = [frame(), frame()]
  batch = random_batch.random_clip_batch(cfg, b, height, width, num_things=4)
  total, metrics = jax.jit(
      lambda o, bt: video_loss.video_knet_loss(o, bt, cfg))(outputs, batch)
  hp = torch_losses.LossHparams.from_config(cfg)
  to_torch = lambda o: {k: torch.from_numpy(v) for k, v in o.items()}
  ref_total, ref = torch_losses.clip_loss(to_torch(outputs[0]),
                                          to_torch(outputs[1]), batch, hp)
  assert set(ref) == {k for k in metrics if "loss" in k} - {common.LOSS_TOTAL}
  for k, v in ref.items():
    np.testing.assert_allclose(metrics[k], float(v), rtol=2e-4, atol=1e-6,
                               err_msg=k)
  np.testing.assert_allclose(total, float(ref_total), rtol=2e-4)
  assert float(ref["loss_track"]) > 0 and float(ref["loss_track_aux"]) > 0
