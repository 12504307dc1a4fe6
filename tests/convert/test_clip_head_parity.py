"""The Flax clip-level tracker heads vs a PyTorch one written from the spec."""
import functools

import jax
import numpy as np
import pytest

from video_knet_jax.convert import sources
from video_knet_jax.convert import torch_to_flax
from video_knet_jax.models import kernel_update_head
from video_knet_jax.models import knet_track

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

# pylint: disable-next=g-import-not-at-top,wrong-import-position
from tests.convert.torch_reference import clip_head

B, T, N, C, H, W, CLASSES = 2, 3, 6, 32, 8, 8, 5


def test_tracker_heads_match_pytorch_within_1e_4():
  torch.manual_seed(0)
  model_t = clip_head.KernelFrameIterHeadVideo(
      num_stages=3, channels=C, heads=4, ffn=64, num_classes=CLASSES).eval()
  gen = torch.Generator().manual_seed(1)
  with torch.no_grad():   # non-trivial norm affines and biases.
    for key, value in model_t.state_dict().items():
      if key.endswith("bias"):
        value.copy_(0.1 * torch.randn(value.shape, generator=gen))
      elif value.ndim == 1:
        value.copy_(1.0 + 0.1 * torch.randn(value.shape, generator=gen))

  stage = functools.partial(kernel_update_head.KernelUpdateHead,
                            num_classes=CLASSES, num_heads=4, ffn_channels=64)
  tracker = kernel_update_head.RoIHead(mask_head=functools.partial(
      knet_track.ClipIterHead, num_stages=3, stage=stage))
  rng = np.random.default_rng(0)
  x = rng.normal(size=(B, T, C, H, W)).astype(np.float32)
  obj = rng.normal(size=(B, T, N, C)).astype(np.float32)
  # Mask logits away from 0 so that both sides binarise them identically.
  masks = (3 * np.sign(rng.normal(size=(B, T, N, H, W)))).astype(np.float32)
  x_f = x.reshape(B * T, C, H, W).transpose(0, 2, 3, 1)
  weights = np.ones((B, T), np.float32)
  template = jax.eval_shape(tracker.init, jax.random.key(0), x_f,
                            obj.reshape(B * T, N, C),
                            masks.reshape(B * T, N, H, W), weights)
  state = {"tracker." + k: v.numpy() for k, v in model_t.state_dict().items()}
  variables, report = torch_to_flax.torch_to_flax(
      state, {"params": {"tracker": template["params"]}},
      source=sources.VIDEO_KNET)
  assert not report.left_at_init and not report.unexpected
  out_f = tracker.apply({"params": variables["params"]["tracker"]}, x_f,
                        obj.reshape(B * T, N, C), masks.reshape(B * T, N, H, W),
                        weights)
  with torch.no_grad():
    masks_t, cls_t = model_t(torch.from_numpy(x),
                             torch.from_numpy(obj)[..., None, None],
                             torch.from_numpy(masks))
  for s in range(3):
    np.testing.assert_allclose(
        np.asarray(out_f[knet_track.CLIP_MASK_LOGITS][s]),
        masks_t[s].numpy().reshape(B * T, N, H, W), atol=1e-4, rtol=1e-4)
  for s in range(2):
    np.testing.assert_allclose(np.asarray(out_f[knet_track.CLIP_CLS_LOGITS][s]),
                               cls_t[s].numpy(), atol=1e-4, rtol=1e-4)
