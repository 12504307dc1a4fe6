"""Semantic K-Net (VSPW): full-size parameter count, outputs, the kernel state."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from video_knet_jax.models import semantic_knet

from video_knet_jax.configs import vspw

# Full-size counts (R101-d8 V1c + base head + 3 semantic K-Net stages with the
# fusion layers at the last + FCN auxiliary head, 124 classes). K-Net has no
# VSPW/R101 config and the paper gives no count, so these come from the
# mmseg/K-Net module definitions written in tests/convert/torch_reference/
# semantic_knet.py: `sum(p.numel() for p in SemanticKNet(head).parameters())`.
# Breakdown: backbone 42,519,392 (torchvision R101 minus fc with the deep
# stem), auxiliary head 2,391,676, fusion layers 3,615,488, decode head
# 39,964,796 (PSP) / 34,579,180 (DeepLabv3+).
FULL_SIZE_PARAMS = {"pspnet": 84_875_864, "deeplabv3plus": 79_490_248}
FULL_SIZE_BN_STATS = {"pspnet": 111_104, "deeplabv3plus": 128_704}   # running mean + var.
FUSION_PARAMS = 3_615_488


def _count(tree, where=""):
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return sum(int(np.prod(v.shape)) for k, v in leaves if where in jax.tree_util.keystr(k))


@pytest.mark.parametrize("variant", ["pspnet", "deeplabv3plus"])
def test_full_size_parameter_count(variant):
  model = semantic_knet.build_model(vspw.get_config(variant))
  shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
  assert _count(shapes["params"]) == FULL_SIZE_PARAMS[variant]
  assert _count(shapes["batch_stats"]) == FULL_SIZE_BN_STATS[variant]
  assert _count(shapes["params"], "_link") == FUSION_PARAMS
  stem = shapes["params"]["backbone"]["stem"]
  assert stem["0"]["kernel"].shape == (3, 3, 3, 32) and stem["6"]["kernel"].shape == (3, 3, 32, 64)
  assert shapes["params"]["decode_head"]["kernel_generate_head"]["conv_seg"]["kernel"].shape == (
      1, 1, 512, 124)


@pytest.fixture(scope="module")
def tiny():
  config = vspw.get_config("debug")
  model = semantic_knet.build_model(config)
  images = jax.random.normal(jax.random.key(1), (2, 64, 64, 3))
  variables = model.init(jax.random.key(0), images)
  return config, model, variables, images


def test_outputs_and_kernel_state(tiny):
  config, model, variables, images = tiny
  first = model.apply(variables, images)
  k = config.model.num_classes
  c = config.model.decode_head.channels
  assert first[semantic_knet.SEG_LOGITS].shape == (2, k, 8, 8)
  assert first[semantic_knet.STAGE_LOGITS].shape == (config.model.num_stages, 2, k, 8, 8)
  assert first[semantic_knet.SEG_KERNELS].shape == (2, k, c)
  assert semantic_knet.AUX_LOGITS not in first          # training only.
  # The previous frame's kernels are an explicit input that changes the output;
  # none given = the frame model.
  fused = model.apply(variables, images, first[semantic_knet.SEG_KERNELS] * 0.5)
  assert not np.allclose(fused[semantic_knet.SEG_LOGITS], first[semantic_knet.SEG_LOGITS])
  np.testing.assert_array_equal(model.apply(variables, images)[semantic_knet.SEG_LOGITS],
                                first[semantic_knet.SEG_LOGITS])
  with pytest.raises(ValueError, match="previous_kernels has shape"):
    model.apply(variables, images, first[semantic_knet.SEG_KERNELS][:, :3])


def test_frame_variant_has_no_fusion_layers_and_rejects_state():
  config = vspw.get_config("debug,frame")
  model = semantic_knet.build_model(config)
  images = jnp.zeros((1, 64, 64, 3))
  variables = model.init(jax.random.key(0), images)
  assert _count(variables["params"], "_link") == 0
  out = model.apply(variables, images)
  with pytest.raises(ValueError, match="no fusion layers"):
    model.apply(variables, images, out[semantic_knet.SEG_KERNELS])
