"""Numerical parity: the Flax model vs a PyTorch Video K-Net on the exported weights.

The PyTorch side (`torch_reference/`) is written from the reference spec with
the original module names. Weights start as a random PyTorch model whose norm
affines, running statistics and biases are perturbed (so a swapped scale/bias
or a transposed kernel cannot hide), are imported into Flax, exported again to
an mmcv-style .pth, strictly loaded by the PyTorch model, and both run two
frames (the second with the first frame's kernels, exercising the link).
Full R50 architecture, 64x96 input, float32 on CPU.
"""

import jax
import numpy as np
import pytest

from tests.convert import model_fixtures
from video_knet_jax import common
from video_knet_jax.convert import flax_to_torch
from video_knet_jax.convert import torch_files
from video_knet_jax.convert import torch_to_flax
from video_knet_jax.models import video_knet

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

# pylint: disable-next=g-import-not-at-top,wrong-import-position
from tests.convert.torch_reference import perturb
from tests.convert.torch_reference import video_knet as torch_video_knet

OUTPUTS = (common.RPN_MASK_LOGITS, common.RPN_SEG_LOGITS, common.STAGE_MASK_LOGITS,
           common.STAGE_CLS_LOGITS, common.MASK_LOGITS, common.CLS_LOGITS, common.KERNELS,
           common.TRACK_KERNELS, common.TRACK_EMBEDDINGS)


def _perturbed_torch_model(seed: int, hparams=None):
  torch.manual_seed(seed)
  model = torch_video_knet.VideoKNet(hparams or torch_video_knet.Hparams()).eval()
  # Swin's relative position tables are zeros at torch init.
  perturb.perturb(model, seed + 1, {"relative_position_bias_table": 0.5})
  return model


def _check_two_frame_parity(model_t, original, model_f, variables, frames,
                            path):
  """Runs two frames (the second with the first's kernels) in Flax, exports
  `variables` to the .pth at `path`, checks it round-trips `original` and
  loads strictly into `model_t`, and that both models agree on every output.

  Returns:
    The PyTorch outputs of the two frames, as numpy dicts.
  """
  @jax.jit
  def two_frames(v, x0, x1):
    first = model_f.apply(v, x0)
    return first, model_f.apply(v, x1, first[common.KERNELS])
  flax_out = jax.device_get(two_frames(variables, frames[0], frames[1]))

  # Flax -> .pth (the original's file layout) -> strict load into PyTorch.
  torch_files.save_state_dict(path, flax_to_torch.flax_to_torch(variables))
  exported = torch.load(path, weights_only=True)["state_dict"]
  assert list(exported) == list(original)
  for k, v in exported.items():
    np.testing.assert_array_equal(v.numpy(), original[k], err_msg=k)
  model_t.load_state_dict(exported, strict=True)
  with torch.no_grad():
    first = model_t(torch.from_numpy(frames[0]).permute(0, 3, 1, 2))
    second = model_t(torch.from_numpy(frames[1]).permute(0, 3, 1, 2), first[common.KERNELS])
  torch_out = [{k: v.numpy() for k, v in o.items()} for o in (first, second)]

  for frame, (f_out, t_out) in enumerate(zip(flax_out, torch_out)):
    for key in OUTPUTS:
      assert f_out[key].shape == t_out[key].shape, (frame, key)
      np.testing.assert_allclose(f_out[key], t_out[key], rtol=1e-4, atol=1e-4,
                                 err_msg=f"frame {frame} {key}")
  return torch_out


def test_full_r50_parity_with_pytorch(r50_link_all, tmp_path):
  model_t = _perturbed_torch_model(seed=0)
  original = {k: v.numpy().copy() for k, v in model_t.state_dict().items()}

  # PyTorch -> Flax; both run two frames.
  variables, report = torch_to_flax.torch_to_flax(original, r50_link_all)
  assert not report.left_at_init
  model_f = video_knet.build_model(model_fixtures.config(link_all_stages=True))
  frames = np.random.RandomState(0).randn(2, 1, 64, 96, 3).astype(np.float32)
  torch_out = _check_two_frame_parity(model_t, original, model_f, variables,
                                      frames, str(tmp_path / "video_knet.pth"))
  # The link changed the second frame's tracking kernels (it is not a no-op).
  assert np.abs(torch_out[1][common.TRACK_KERNELS] - torch_out[1][common.KERNELS]).max() > 1e-2


SWIN_DEPTHS = (2, 2, 2, 2)   # reduced from (2, 2, 18, 2); every stage keeps a shifted block.


def test_swin_b_fusion_and_update_link_parity_with_pytorch(tmp_path):
  """Swin-B widths/heads (reduced depth) + kernel fusion + 'update' link, two frames.

  64x96 input: the stride-4..32 maps (16x24 .. 2x3) are all padded to window
  multiples, so the padding, the shift masks and the patch merging all count.
  """
  hparams = torch_video_knet.Hparams(backbone="swin", swin_depths=SWIN_DEPTHS,
                                     previous_type="update", fusion=True)
  model_t = _perturbed_torch_model(seed=1, hparams=hparams)
  original = {k: v.numpy().copy() for k, v in model_t.state_dict().items()}

  cfg = model_fixtures.config("swin_b", link_all_stages=True)
  cfg.model.backbone.depths = SWIN_DEPTHS
  cfg.model.dtype = "float32"
  variables, report = torch_to_flax.torch_to_flax(original, model_fixtures.abstract(cfg))
  assert not report.left_at_init
  assert len([k for k, _ in report.dropped if k.endswith("relative_position_index")]) == 8
  model_f = video_knet.build_model(cfg)
  frames = np.random.RandomState(1).randn(2, 1, 64, 96, 3).astype(np.float32)
  torch_out = _check_two_frame_parity(model_t, original, model_f, variables,
                                      frames, str(tmp_path / "video_knet_swin.pth"))
  # Fusion changed the second frame's masks, and the link its tracking kernels.
  with torch.no_grad():
    alone = model_t(torch.from_numpy(frames[1]).permute(0, 3, 1, 2))
  assert np.abs(alone[common.MASK_LOGITS].numpy() - torch_out[1][common.MASK_LOGITS]).max() > 1e-2
  assert np.abs(torch_out[1][common.TRACK_KERNELS] - torch_out[1][common.KERNELS]).max() > 1e-2
