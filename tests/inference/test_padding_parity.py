"""Per-video padding: a 200x632 clip runs as the original runs it.

The original pads each test frame (after normalisation, bottom/right) to the
next multiple of 32: 200x632 -> 224x640. A PyTorch Video K-Net
(`tests/convert/torch_reference`, debug widths, perturbed weights) runs on
frames padded that way by hand; the same weights are imported into Flax and
padded by the predictor's own rule (the one `predict` and `evaluate.py`
use). The raw outputs of two linked frames agree to 1e-4; a fixed larger
canvas gives other outputs (so the check can fail).
"""

import jax
import numpy as np
import pytest

from video_knet_jax import common
from video_knet_jax.convert import model_variables
from video_knet_jax.convert import torch_to_flax
from video_knet_jax.inference import predictor as predictor_lib
from video_knet_jax.models import video_knet

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

# pylint: disable-next=g-import-not-at-top,wrong-import-position
from tests.convert.torch_reference import video_knet as torch_video_knet

from video_knet_jax.configs import kitti_step

HEIGHT, WIDTH = 200, 632
ORIGINAL_PADDED = (224, 640)   # ceil(200 / 32) * 32, ceil(632 / 32) * 32.
COMPARED = (common.MASK_LOGITS, common.CLS_LOGITS, common.KERNELS, common.TRACK_EMBEDDINGS)


def _config():
  config = kitti_step.get_config("debug")
  config.model.temporal.link_all_stages = True     # the reference's layout.
  return config


def _torch_model(config):
  m = config.model
  hp = torch_video_knet.Hparams(
      stage_blocks=tuple(m.backbone.stage_blocks), base_width=m.backbone.base_width,
      channels=m.feat_channels, groups=m.semantic_fpn.num_groups,
      pe_num_feats=m.semantic_fpn.pe_num_feats, num_proposals=m.num_proposals,
      num_stages=m.num_stages, heads=m.update_head.num_heads, ffn=m.update_head.ffn_channels,
      embed_channels=m.temporal.embed_channels)
  torch.manual_seed(0)
  model = torch_video_knet.VideoKNet(hp).eval()
  gen = torch.Generator().manual_seed(1)
  with torch.no_grad():   # non-trivial norm statistics and biases.
    for key, value in model.state_dict().items():
      if key.endswith("running_var"):
        value.copy_(0.5 + torch.rand(value.shape, generator=gen))
      elif key.endswith(("running_mean", "bias")):
        value.copy_(0.1 * torch.randn(value.shape, generator=gen))
  return model


def _frames():
  """Two smooth 200x632 RGB frames (blobs on a gradient), the second shifted."""
  yy, xx = np.mgrid[:HEIGHT, :WIDTH].astype(np.float32)
  frames = []
  for shift in (0, 12):
    r = 128 + 100 * np.sin((xx + shift) / 37.0) * np.cos(yy / 23.0)
    g = 255 * ((xx - 300 - shift) ** 2 + (yy - 100) ** 2 < 60 ** 2)
    b = 255 * yy / HEIGHT
    frames.append(np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8))
  return frames


def test_200x632_pads_like_the_original_and_matches_pytorch():
  config = _config()
  model_t = _torch_model(config)
  state = {k: v.numpy().copy() for k, v in model_t.state_dict().items()}
  template = model_variables.abstract_variables(config)
  variables, report = torch_to_flax.torch_to_flax(state, template)
  assert not report.left_at_init
  frames = _frames()

  # The original's rule, by hand: normalise, zero pad to multiples of 32.
  mean, std = np.array(config.data.mean), np.array(config.data.std)
  torch_out = []
  kernels = None
  for frame in frames:
    padded = np.zeros(ORIGINAL_PADDED + (3,), np.float32)
    padded[:HEIGHT, :WIDTH] = (frame - mean) / std
    with torch.no_grad():
      out = model_t(torch.from_numpy(padded[None]).permute(0, 3, 1, 2), kernels)
    kernels = out[common.KERNELS]
    torch_out.append({k: v.numpy() for k, v in out.items()})

  model = video_knet.build_model(config)
  predictor = predictor_lib.VideoPredictor(model, variables, config)
  apply = jax.jit(model.apply)
  kernels = None
  for t, frame in enumerate(frames):
    image, hw = predictor.preprocess(frame)
    assert image.shape == (1,) + ORIGINAL_PADDED + (3,) and hw == (HEIGHT, WIDTH)
    out = apply(variables, image, kernels)
    kernels = out[common.KERNELS]
    for key in COMPARED:
      np.testing.assert_allclose(np.asarray(out[key]), torch_out[t][key], rtol=1e-4,
                                 atol=1e-4, err_msg=f"frame {t} {key}")

  # A fixed canvas (the previous default) sees other padding: other logits.
  fixed = config.copy_and_resolve_references()
  fixed.inference.fixed_canvas = True
  fixed.data.eval_size = (256, 672)
  image, _ = predictor_lib.VideoPredictor(model, variables, fixed).preprocess(frames[0])
  assert image.shape == (1, 256, 672, 3)
  cls_fixed = np.asarray(apply(variables, image)[common.CLS_LOGITS])
  assert np.abs(cls_fixed - torch_out[0][common.CLS_LOGITS]).max() > 1e-2
