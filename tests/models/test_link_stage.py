"""Where the previous frame's kernels enter: config.model.temporal.link_stage."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from video_knet_jax.configs import kitti_step
from video_knet_jax.models import kernel_update_head as kuh
from video_knet_jax.models import video_knet

C, N, STAGES = 16, 5, 3


def _head(link_stage, link=True, fusion=False):
  stage = functools.partial(kuh.KernelUpdateHead, num_classes=4, num_heads=2, ffn_channels=32)
  return kuh.KernelIterHead(num_stages=STAGES, stage=stage, link=link, fusion=fusion,
                            link_stage=link_stage)


def _inputs():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(1, 6, 7, C)), jnp.float32)
  kernels, previous = (jnp.asarray(rng.normal(size=(1, N, C)), jnp.float32) for _ in range(2))
  masks = jnp.asarray(rng.normal(size=(1, N, 6, 7)), jnp.float32)
  return x, kernels, masks, previous


@pytest.mark.parametrize("link_stage, first_changed", [(0, 0), (1, 1), (-1, 2)])
def test_fusion_changes_the_linking_stage_and_those_after(link_stage, first_changed):
  head = _head(link_stage, fusion=True)
  x, kernels, masks, previous = _inputs()
  variables = head.init(jax.random.key(0), x, kernels, masks, previous)
  # The temporal layers live in the linking stage only (link_all_stages False).
  with_layers = [s for s, p in variables["params"].items() if "attention_previous_link" in p]
  assert with_layers == [str(first_changed)]
  run = head.apply   # eager: cheaper than compiling three tiny variants.
  alone, linked = run(variables, x, kernels, masks), run(variables, x, kernels, masks, previous)
  diff = np.abs(np.asarray(alone[kuh.STAGE_MASKS]) - np.asarray(linked[kuh.STAGE_MASKS]))
  changed = diff.reshape(STAGES, -1).max(axis=1) > 1e-4
  assert changed.tolist() == [s >= first_changed for s in range(STAGES)]


def test_track_kernels_come_from_the_linking_stage():
  head = _head(0)
  x, kernels, masks, previous = _inputs()
  variables = head.init(jax.random.key(0), x, kernels, masks, previous)
  alone = head.apply(variables, x, kernels, masks)
  linked = head.apply(variables, x, kernels, masks, previous)
  # Linking alone feeds only the tracking branch: masks and kernels unchanged...
  np.testing.assert_allclose(linked[kuh.STAGE_MASKS], alone[kuh.STAGE_MASKS], rtol=1e-6)
  np.testing.assert_allclose(linked[kuh.OBJ], alone[kuh.OBJ], rtol=1e-6)
  # ... and TRACK is stage 0's kernels (linked when previous ones are given),
  # not the final ones as with linking at the last stage.
  differ = lambda a, b: np.abs(np.asarray(a) - np.asarray(b)).max() > 1e-3
  assert differ(linked[kuh.TRACK], linked[kuh.OBJ]) and differ(alone[kuh.TRACK], alone[kuh.OBJ])
  assert differ(linked[kuh.TRACK], alone[kuh.TRACK])
  last = _head(-1)
  last_vars = last.init(jax.random.key(0), x, kernels, masks, previous)
  np.testing.assert_array_equal(*(last.apply(last_vars, x, kernels, masks)[k]
                                  for k in (kuh.TRACK, kuh.OBJ)))


def test_config_stage_is_one_based_and_checked():
  m = kitti_step.get_config().model
  assert video_knet.link_stage_index(m) == -1        # default: the last (the release).
  m.temporal.link_stage = 1
  assert video_knet.link_stage_index(m) == 0
  m.temporal.link_stage = 4
  with pytest.raises(ValueError, match="link_stage=4"):
    video_knet.link_stage_index(m)
