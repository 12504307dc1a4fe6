"""The deformable pixel decoder neck vs a PyTorch re-implementation of the original's.

Full-size decoder of `configs/youtube_vis.py:deformable` (256 channels, 6 layers,
8 heads, 3 levels, 4 points) on R50-shaped features of a 64x96 image. The torch
module's random weights (norms, biases and the zero-initialised offset/attention
projections perturbed) go through the key table into Flax; all four outputs must
agree, and the export gives back the torch state_dict in order. (Gradients of the
deformable attention itself are checked in tests/models/test_ms_deform_attn.py.)
"""
import jax
import numpy as np
import pytest

from video_knet_jax.configs import youtube_vis
from video_knet_jax.convert import flax_to_torch
from video_knet_jax.convert import torch_to_flax
from video_knet_jax.models import necks

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

# pylint: disable=g-import-not-at-top,wrong-import-position
from tests.convert.torch_reference import msdeform_pixel_decoder as torch_decoder
from tests.convert.torch_reference import perturb
# pylint: enable=g-import-not-at-top,wrong-import-position

R50_CHANNELS = (256, 512, 1024, 2048)


def test_decoder_values_and_export_equal_the_original():
  torch.manual_seed(0)
  model_t = torch_decoder.MSDeformAttnPixelDecoder(in_channels=R50_CHANNELS).eval()
  perturb.perturb(model_t, 1, {"sampling_offsets.weight": 0.05,
                               "attention_weights.weight": 0.1})
  state = {"neck." + k: v.numpy() for k, v in model_t.state_dict().items()}

  neck = necks.build_neck(youtube_vis.get_config("deformable").model)
  rng = np.random.RandomState(0)
  feats = [rng.randn(2, 64 // s, 96 // s, c).astype(np.float32)
           for s, c in zip((4, 8, 16, 32), R50_CHANNELS)]
  abstract = jax.eval_shape(neck.init, jax.random.key(0), feats)
  variables, report = torch_to_flax.torch_to_flax(
      state, {"params": {"neck": abstract["params"]}}, source="knet_image", strict=False)
  assert not report.left_at_init and not report.unexpected and not report.shape_mismatch
  params = variables["params"]["neck"]

  # The export is the torch module's own state_dict, in its order.
  exported = flax_to_torch.flax_to_torch({"params": {"neck": params}})
  assert list(exported) == list(state)
  for k, v in exported.items():
    np.testing.assert_array_equal(v, state[k], err_msg=k)

  out = jax.jit(lambda x: neck.apply({"params": params}, x))(feats)
  with torch.no_grad():
    out_t = model_t([torch.from_numpy(f.transpose(0, 3, 1, 2)) for f in feats])
  for level, (o, o_t) in enumerate(zip(out, out_t)):   # strides 4, 8, 16, 32.
    want = o_t.numpy().transpose(0, 2, 3, 1)
    assert o.shape == want.shape
    np.testing.assert_allclose(o, want, rtol=1e-4, atol=1e-4, err_msg=f"output {level}")
