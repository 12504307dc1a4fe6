"""bfloat16 compute: float32 params and outputs, close to the float32 forward on the same weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from video_knet_jax.configs import kitti_step

from tests.models import np_reference as ref  # pylint: disable=wrong-import-position
from video_knet_jax import common  # pylint: disable=wrong-import-position
from video_knet_jax.models import video_knet  # pylint: disable=wrong-import-position

# Relative L2 error of bf16 vs fp32 outputs (8-bit mantissa: ~0.4% per rounding,
# accumulated over the backbone, FPN and the stages). Measured on these debug
# models (pytest -s prints it): 0.006-0.021 (R50), 0.002-0.019 (Swin); bound 0.05.
REL_TOL = 0.05


def _rel(a, b):
  return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


@pytest.mark.parametrize("arg", ["debug", "swin_b,debug"])
def test_bf16_forward_matches_fp32(arg):
  config = kitti_step.get_config(arg)
  config.model.dtype = "float32"
  fp32 = video_knet.build_model(config)
  config.model.dtype = "bfloat16"
  bf16 = video_knet.build_model(config)
  images = jnp.asarray(np.random.RandomState(0).randn(1, 64, 96, 3), jnp.float32)
  variables = ref.random_variables(fp32, images, std=0.1)
  # Same parameter tree and dtypes: bf16 only changes the compute.
  abstract = jax.eval_shape(bf16.init, jax.random.key(0), images)
  assert jax.tree.map(lambda s: (s.shape, s.dtype), abstract) == jax.tree.map(
      lambda v: (v.shape, jnp.float32), variables)
  m = config.model
  prev = jnp.asarray(np.random.RandomState(1).randn(
      1, m.num_proposals + m.num_stuff_classes, m.feat_channels), jnp.float32)
  out32 = jax.jit(fp32.apply)(variables, images, prev)   # with linking (and Swin: fusion).
  out16 = jax.jit(bf16.apply)(variables, images, prev)
  for key in (common.MASK_LOGITS, common.CLS_LOGITS, common.TRACK_EMBEDDINGS):
    assert out16[key].dtype == jnp.float32
    err = _rel(np.asarray(out16[key]), np.asarray(out32[key]))
    print(f"{arg} {key}: relative L2 error {err:.4f}")
    assert err < REL_TOL, (key, err)
  # Not vacuous: bf16 does round (the outputs differ).
  assert np.abs(np.asarray(out16[common.MASK_LOGITS]) - np.asarray(out32[common.MASK_LOGITS])).max() > 0
