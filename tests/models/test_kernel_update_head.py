"""One update stage against a numpy re-implementation; linking and fusion effects."""
import functools

import jax
import numpy as np
import pytest

from tests.models import np_reference as ref
from video_knet_jax.models import kernel_update_head

B, N, D, H, W, C, HEADS, FFN = 2, 5, 16, 4, 6, 7, 4, 32


def _inputs(seed=0):
  rng = np.random.RandomState(seed)
  x_feats = rng.randn(B, H, W, D).astype(np.float32)
  kernels = rng.randn(B, N, D).astype(np.float32)
  masks = rng.randn(B, N, H, W).astype(np.float32)
  previous = rng.randn(B, N, D).astype(np.float32)
  return x_feats, kernels, masks, previous


def _stage(**kw):
  return kernel_update_head.KernelUpdateHead(num_classes=C, num_heads=HEADS, ffn_channels=FFN,
                                             **kw)


def test_stage_matches_numpy():
  """With and without previous kernels (fusion + linking both active)."""
  x_feats, kernels, masks, previous = _inputs()
  module = _stage(with_link=True, with_fusion=True, num_cls_fcs=2)
  variables = ref.random_variables(module, x_feats, kernels, masks, previous)
  apply = jax.jit(module.apply)
  p = ref.as_np(variables["params"])
  for prev in (None, previous):
    got = apply(variables, x_feats, kernels, masks, prev)
    want = ref.update_stage(*(a.astype(np.float64) for a in (x_feats, kernels, masks)), p,
                            HEADS, previous=None if prev is None else prev.astype(np.float64))
    for g, w, name in zip(got, want, ("cls", "masks", "kernels", "track")):
      np.testing.assert_allclose(np.asarray(g), w, rtol=1e-3, atol=1e-3, err_msg=name)


def test_init_builds_temporal_layers_without_previous():
  x_feats, kernels, masks, _ = _inputs()
  shapes = jax.eval_shape(_stage(with_link=True, with_fusion=True).init, jax.random.key(0),
                          x_feats, kernels, masks)["params"]
  assert {"attention_previous", "link_ffn_norm", "attention_previous_update_link",
          "link_ffn_link"} <= set(shapes)


def test_previous_without_temporal_layers_is_an_error():
  x_feats, kernels, masks, previous = _inputs()
  with pytest.raises(ValueError, match="temporal"):
    jax.eval_shape(_stage().init, jax.random.key(0), x_feats, kernels, masks, previous)


def _iter_head(fusion):
  stage = functools.partial(kernel_update_head.KernelUpdateHead, num_classes=C,
                            num_heads=HEADS, ffn_channels=FFN)
  return kernel_update_head.KernelIterHead(num_stages=2, stage=stage, link=True, fusion=fusion)


def test_linking_changes_only_track_kernels():
  x_feats, kernels, masks, previous = _inputs(1)
  module = _iter_head(fusion=False)
  variables = ref.random_variables(module, x_feats, kernels, masks, previous)
  apply = jax.jit(module.apply)
  plain = apply(variables, x_feats, kernels, masks, None)
  linked = apply(variables, x_feats, kernels, masks, previous)
  np.testing.assert_array_equal(plain["track"], plain["obj"])   # no previous: identity.
  for key in ("stage_masks", "stage_cls", "obj"):
    np.testing.assert_allclose(np.asarray(linked[key]), np.asarray(plain[key]), atol=1e-6)
  assert np.abs(np.asarray(linked["track"]) - np.asarray(plain["track"])).max() > 1e-2
  assert plain["stage_masks"].shape == (2, B, N, H, W)
  assert plain["stage_cls"].shape == (2, B, N, C)


def test_fusion_changes_only_the_last_stage():
  x_feats, kernels, masks, previous = _inputs(2)
  module = _iter_head(fusion=True)
  variables = ref.random_variables(module, x_feats, kernels, masks, previous)
  assert "attention_previous_link" in variables["params"]["1"]
  assert "attention_previous_link" not in variables["params"]["0"]
  apply = jax.jit(module.apply)
  plain = apply(variables, x_feats, kernels, masks, None)
  fused = apply(variables, x_feats, kernels, masks, previous)
  np.testing.assert_allclose(np.asarray(fused["stage_masks"][0]),
                             np.asarray(plain["stage_masks"][0]), atol=1e-6)
  assert np.abs(np.asarray(fused["stage_masks"][1] - plain["stage_masks"][1])).max() > 1e-2
  assert np.abs(np.asarray(fused["stage_cls"][1] - plain["stage_cls"][1])).max() > 1e-3


def test_previous_is_ignored_without_temporal_layers():
  x_feats, kernels, masks, previous = _inputs(3)
  stage = functools.partial(kernel_update_head.KernelUpdateHead, num_classes=C,
                            num_heads=HEADS, ffn_channels=FFN)
  module = kernel_update_head.KernelIterHead(num_stages=1, stage=stage, link=False,
                                             fusion=False)
  variables = ref.random_variables(module, x_feats, kernels, masks, previous)
  assert "attention_previous" not in variables["params"]["0"]
  out = jax.jit(module.apply)(variables, x_feats, kernels, masks, previous)
  np.testing.assert_array_equal(np.asarray(out["track"]), np.asarray(out["obj"]))
