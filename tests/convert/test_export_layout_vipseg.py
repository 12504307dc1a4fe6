"""The VIPSeg R50 and Swin-B Video K-Nets export exactly the original's state_dict layouts."""

import jax
import numpy as np

from video_knet_jax.convert import flax_to_torch
from video_knet_jax.convert import model_variables
from video_knet_jax.convert import reference_keys

from video_knet_jax.configs import vipseg


def test_vipseg_r50_export_equals_reference_exactly():
  config = vipseg.get_config()
  config.model.temporal.link_all_stages = True   # the original's layout.
  abstract = model_variables.abstract_variables(config)
  zeros = jax.tree.map(
      lambda s: np.broadcast_to(np.zeros((), s.dtype), s.shape), abstract)
  state = flax_to_torch.flax_to_torch(zeros, fill_dead_links=False)
  reference = [tuple(e) for e in reference_keys.load(
      reference_keys.VIDEO_KNET_VIPSEG_R50)]
  assert [(k, tuple(v.shape), str(v.dtype)) for k, v in state.items()] == (
      reference)
  assert len(state) == 549
  # 41,802,032 parameters + 53,173 buffer elements.
  assert sum(int(np.prod(v.shape)) for v in state.values()) == 41_802_032 + 53_173
  assert state["roi_head.mask_head.2.fc_cls.weight"].shape == (124, 256)


def test_vipseg_swin_b_export_equals_reference_exactly():
  config = vipseg.get_config("swin_b")
  config.model.temporal.link_all_stages = True
  abstract = model_variables.abstract_variables(config)
  # original_state_dict_keys_vipseg_swinb.json: 104,547,496 parameters.
  assert sum(int(np.prod(s.shape)) for s in jax.tree.leaves(abstract["params"])) == 104_547_496
  zeros = jax.tree.map(
      lambda s: np.broadcast_to(np.zeros((), s.dtype), s.shape), abstract)
  state = flax_to_torch.flax_to_torch(zeros, fill_dead_links=False)
  reference = [tuple(e) for e in reference_keys.load(
      reference_keys.VIDEO_KNET_VIPSEG_SWINB)]
  assert [(k, tuple(v.shape), str(v.dtype)) for k, v in state.items()] == reference
  assert len(state) == 588
  assert sum(int(np.prod(v.shape)) for v in state.values()) == 104_547_496 + 57_624
