"""Parity: semantic K-Net decode head (base head + kernel update stages + fusion) vs PyTorch.

The PyTorch side (torch_reference/semantic_knet.py) is written from the
specification (video_knet_extensions.md 4.2-4.3) with mmseg / K-Net names.
Its random weights (BN statistics and affines perturbed) go through the
converter's SEMANTIC_KNET_TABLE into Flax; both run two frames on the same
random backbone features, the second with the first frame's kernels (fusion).
Tiny widths, float32 on CPU; must agree within 1e-4.
"""
import functools

import flax.linen as nn
import jax
import numpy as np
import pytest

from video_knet_jax.convert import flax_to_torch
from video_knet_jax.convert import torch_to_flax
from video_knet_jax.models import semantic_update_head as suh

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

# pylint: disable-next=g-import-not-at-top,wrong-import-position
from tests.convert.torch_reference import perturb
from tests.convert.torch_reference import semantic_knet as torch_sem

C, ROWS, HEADS, FFN, CLASSES, STAGES = 32, 16, 4, 64, 7, 2
C2, C5 = 24, 40          # backbone channels fed to the heads (C2 for DeepLabv3+).


class _TorchDecode(torch.nn.Module):

  def __init__(self, base):
    super().__init__()
    generate = (torch_sem.PSPHead(C5, C, CLASSES) if base == "psp" else
                torch_sem.DepthwiseSeparableASPPHead(C5, C2, C, 48, CLASSES))
    self.decode_head = torch_sem.IterativeDecodeHead(
        generate, num_stages=STAGES, fusion=True, channels=C, heads=HEADS, ffn=FFN,
        updator_rows=ROWS)


class _FlaxDecode(nn.Module):
  base: str

  @nn.compact
  def __call__(self, feats, previous=None):
    stage = functools.partial(suh.SemanticKernelUpdateHead, num_heads=HEADS, ffn_channels=FFN,
                              updator_rows=ROWS)
    return suh.IterativeDecodeHead(CLASSES, self.base, C, num_stages=STAGES, stage=stage,
                                   fusion=True, name="decode_head")(feats, previous)


@pytest.mark.parametrize("base", ["psp", "deeplabv3plus"])
def test_decode_head_matches_pytorch(base):
  torch.manual_seed(0)
  model_t = _TorchDecode(base).eval()
  # Larger conv_seg kernels: a peaked softmax.
  perturb.perturb(model_t, 1, {"conv_seg.weight": 0.3})
  state = {k: v.numpy().copy() for k, v in model_t.state_dict().items()}

  rng = np.random.RandomState(2)
  shapes = [(2, C2, 16, 16), (2, 16, 8, 8), (2, 20, 8, 8), (2, C5, 8, 8)]   # C2..C5
  frames = [[rng.randn(*s).astype(np.float32) for s in shapes] for _ in range(2)]
  nhwc = lambda fs: [np.transpose(f, (0, 2, 3, 1)) for f in fs]

  model_f = _FlaxDecode(base)
  template = model_f.init(jax.random.key(0), nhwc(frames[0]))
  variables, report = torch_to_flax.torch_to_flax(state, template)
  assert report.source == "semantic_knet" and not report.left_at_init
  # The same table maps every Flax leaf back to its torch name.
  assert set(flax_to_torch.flax_to_torch(variables)) == set(state)

  previous_t = previous_f = None
  for t in range(2):
    with torch.no_grad():
      feats_t = [torch.from_numpy(f) for f in frames[t]]
      base_t, stages_t, kernels_t = model_t.decode_head(feats_t, previous_t)
    out = model_f.apply(variables, nhwc(frames[t]), previous_f)
    np.testing.assert_allclose(out[suh.BASE_LOGITS], base_t.numpy(), atol=1e-4, rtol=1e-4)
    for s in range(STAGES):
      np.testing.assert_allclose(out[suh.STAGE_LOGITS][s], stages_t[s].numpy(),
                                 atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(out[suh.KERNELS], kernels_t.numpy(), atol=1e-4, rtol=1e-4)
    previous_t, previous_f = kernels_t, out[suh.KERNELS]
  # The fused second frame differs from running it alone (the fusion did something).
  alone = model_f.apply(variables, nhwc(frames[1]))
  assert np.abs(alone[suh.STAGE_LOGITS][-1] - out[suh.STAGE_LOGITS][-1]).max() > 1e-3
