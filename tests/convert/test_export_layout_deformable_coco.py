"""Deformable-neck KNetTrack and COCO image K-Nets export exactly the original layouts.

Full-size models by `jax.eval_shape` only: parameter counts equal the original
lists' 'num_parameters', and the exported (key, shape, dtype) list, in order,
equals shared/reference/original_state_dict_keys_{...}.json.
"""
import jax
import numpy as np
import pytest

from video_knet_jax.configs import coco
from video_knet_jax.configs import youtube_vis
from video_knet_jax.convert import flax_to_torch
from video_knet_jax.convert import model_variables
from video_knet_jax.convert import reference_keys


def _exported_layout(config):
  abstract = model_variables.abstract_variables(config)
  num_params = sum(int(np.prod(s.shape)) for s in jax.tree.leaves(abstract["params"]))
  zeros = jax.tree.map(lambda s: np.broadcast_to(np.zeros((), s.dtype), s.shape), abstract)
  state = flax_to_torch.flax_to_torch(zeros, fill_dead_links=False)
  return num_params, [(k, tuple(v.shape), str(v.dtype)) for k, v in state.items()]


@pytest.mark.parametrize("get_config, arg, reference, num_keys, num_params", [
    (youtube_vis.get_config, "deformable", reference_keys.VIS_R50_DEFORMABLE_YTVIS,
     730, 46_212_848),
    (youtube_vis.get_config, "swin_b,deformable", reference_keys.VIS_SWINB_DEFORMABLE_YTVIS,
     769, 108_958_312),
    (coco.get_config, "", reference_keys.KNET_COCO_R50, 502, 37_482_368),
    (coco.get_config, "deformable", reference_keys.KNET_COCO_R50_DEFORMABLE, 603, 40_173_888),
    (coco.get_config, "swin_b,deformable", reference_keys.KNET_COCO_SWINB_DEFORMABLE,
     642, 102_919_352),
])
def test_export_equals_the_original_list(get_config, arg, reference, num_keys, num_params):
  count, layout = _exported_layout(get_config(arg))
  expected = [tuple(e) for e in reference_keys.load(reference)]
  assert (count, len(expected)) == (num_params, num_keys)
  assert layout == expected


def test_panoptic_coco_knet_has_the_layout_its_model_files_give():
  """The panoptic recipe's list is not shipped: its model files give the instance
  K-Net's 502 tensors with 133-way class layers (configs/coco.py docstring)."""
  count, layout = _exported_layout(coco.get_config("panoptic"))
  instance = [tuple(e) for e in reference_keys.load(reference_keys.KNET_COCO_R50)]
  expected = coco.expected_panoptic_layout(instance)
  assert layout == expected
  changed = [e[0] for e, i in zip(expected, instance) if e != i]
  assert changed == ["rpn_head.conv_seg.weight", "rpn_head.conv_seg.bias"] + [
      f"roi_head.mask_head.{s}.fc_cls.{n}" for s in range(3) for n in ("weight", "bias")]
  # 37,482,368 + (133 - 80) x 257 for conv_seg and each of the 3 fc_cls.
  assert count == 37_482_368 + 53 * 257 * 4 == 37_536_852
