"""The Cityscapes-STEP, Cityscapes-VPS and VIPSeg configs: paper numbers,
':debug' is the same recipe smaller, and the label space matches the facts."""

import pytest

from video_knet_jax.datasets import facts as dataset_facts
from video_knet_jax.datasets import registry

from video_knet_jax.configs import cityscapes_step
from video_knet_jax.configs import cityscapes_vps
from video_knet_jax.configs import vipseg


MODULES = [cityscapes_step, cityscapes_vps, vipseg]


@pytest.mark.parametrize("module", MODULES)
def test_debug_is_the_same_recipe_smaller_on_a_generated_set(module):
  full, debug = module.get_config(), module.get_config("debug")
  assert set(full.keys()) == set(debug.keys())
  assert debug.model.feat_channels < full.model.feat_channels
  assert len(debug.loss.stage_weights) == debug.model.num_stages
  assert not full.data.generated and debug.data.generated
  assert registry.spec(debug) is not None and registry.spec(full) is None
  for config in (full, debug):   # raises naming a field on disagreement.
    facts = dataset_facts.facts_for_config(config)
    assert facts.name == config.data.name
  with pytest.raises(ValueError, match="debugg"):
    module.get_config("debugg")


def test_cityscapes_step_is_the_image_knet_pretraining():
  c = cityscapes_step.get_config()
  assert not c.model.temporal.enabled and c.data.num_refs == 0
  assert c.data.thing_train_ids == (11, 13)
  assert (c.loss.mask_assign_stride, c.model.kernel_head.feat_downsample_stride,
          c.model.update_head.mask_upsample_stride) == (4, 2, 2)
  assert (c.loss.rpn_seg_type, c.loss.rank, c.loss.rpn_rank) == ("focal", 0.1, 0.1)
  assert c.data.crop_size == (1024, 2048) and c.data.scale_range == (0.5, 2.0)
  assert (c.train.num_epochs, c.train.dataset_repeats, c.optim.decay_epochs) == (
      8, 8, (7,))
  assert c.train.batch_size == 16 and c.inference.instance_score_thr == 0.3


def test_cityscapes_vps_numbers():
  c = cityscapes_vps.get_config()
  assert c.data.thing_train_ids == tuple(range(11, 19))
  assert (c.model.num_thing_classes, c.model.num_stuff_classes) == (8, 11)
  assert c.data.ref_offsets == (-5, 5)       # the neighbouring labelled frame.
  assert c.data.crop_size == (1024, 1024) and c.data.eval_size == (1024, 2048)
  assert (c.train.batch_size, c.train.dataset_repeats) == (16, 8)
  assert c.train.num_train_frames == 2400


def test_vipseg_numbers():
  c = vipseg.get_config()
  assert (c.model.num_thing_classes, c.model.num_stuff_classes) == (58, 66)
  assert c.data.crop_size == (736, 736) and c.data.scale_range == (1.0, 2.0)
  assert c.data.base_size[0] == 720 and c.data.ref_offsets == (-2, -1, 1, 2)
  assert (c.train.num_epochs, c.optim.decay_epochs,
          c.train.dataset_repeats) == (12, (9, 11), 1)
  # The train frame count is not a fact of VIPSeg: it must be given.
  from video_knet_jax import optim  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="num_train_frames"):
    optim.steps_per_epoch(c)


def test_cityscapes_step_swin_b_is_the_original_image_knet_swin_b():
  """`:swin_b` builds knet_s3_swin_b_fpn.py's model: 100,165,124 parameters, the
  total of original_state_dict_keys_knet_image_swinb.json (link layers as the
  original registers them, so the count is comparable)."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from video_knet_jax.convert import model_variables  # pylint: disable=g-import-not-at-top
  c = cityscapes_step.get_config("swin_b")
  assert c.model.backbone.name == "swin" and not c.model.temporal.enabled
  assert c.train.batch_size == 8          # samples_per_gpu=1 x 8 GPUs.
  c.model.temporal.link_all_stages = True
  abstract = model_variables.abstract_variables(c)
  assert sum(int(np.prod(x.shape)) for x in jax.tree.leaves(abstract["params"])) == 100_165_124
  debug = cityscapes_step.get_config("swin_b,debug")
  assert debug.model.backbone.name == "swin" and debug.data.generated


@pytest.mark.parametrize("module", [cityscapes_vps, vipseg])
def test_swin_b_argument_and_the_rest_refused(module):
  swin, base = module.get_config("swin_b"), module.get_config()
  assert swin.model.backbone.name == "swin" and swin.model.backbone.embed_dims == 128
  assert swin.data == base.data                     # the data set's settings kept.
  tiny = module.get_config("swin_b,debug")
  assert tiny.model.backbone.embed_dims < 128 and tiny.data.generated
  for bad in ("swin_l", "swin_b,swin_b,debug", "resnet"):
    with pytest.raises(ValueError, match="unknown or conflicting config argument"):
      module.get_config(bad)


def test_swin_b_recipes_of_cityscapes_vps_and_vipseg():
  # Cityscapes-VPS: the KITTI-STEP Swin-B model (fusion + "update" link).
  c = cityscapes_vps.get_config("swin_b")
  t = c.model.temporal
  assert (t.fusion, t.link_type, c.train.batch_size) == (True, "update", 16)
  # VIPSeg: ..._joint_train_8e.py: the R50 heads (ffn link, no fusion), 8 epochs, step at 7.
  v = vipseg.get_config("swin_b")
  t = v.model.temporal
  assert (t.fusion, t.link_type, v.train.num_epochs, v.optim.decay_epochs) == (
      False, "ffn", 8, (7,))
  assert v.data.vpq_windows == (1, 2, 4, 6, 8) and v.data.vpq_protocol == "panopticapi"
