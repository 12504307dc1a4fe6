"""The exported state_dict has exactly the original's keys, order, shapes and dtypes."""
import jax
import numpy as np
import pytest

from tests.convert import model_fixtures
from video_knet_jax.configs import swin_recipes
from video_knet_jax.convert import flax_to_torch
from video_knet_jax.convert import reference_keys


def _zeros(abstract):
  # Zero-stride views: the full R50 tree costs no memory until transposed.
  return jax.tree.map(lambda s: np.broadcast_to(np.zeros((), s.dtype), s.shape), abstract)


def _layout(state):
  return [(k, tuple(v.shape), str(v.dtype)) for k, v in state.items()]


REFERENCE = [tuple(e) for e in reference_keys.load(reference_keys.VIDEO_KNET_R50)]


def test_r50_export_equals_reference_exactly(r50_link_all):
  state = flax_to_torch.flax_to_torch(_zeros(r50_link_all), fill_dead_links=False)
  assert _layout(state) == REFERENCE
  assert len(state) == 549
  # 41,694,092 parameters + 53,173 buffer elements (running stats, counters).
  assert sum(int(np.prod(v.shape)) for v in state.values()) == 41_694_092 + 53_173


def test_last_stage_links_are_filled_into_the_original_layout(r50_link_last):
  variables = model_fixtures.random_variables(r50_link_last)
  notes = []
  state = flax_to_torch.flax_to_torch(variables, log=notes.append)
  assert _layout(state) == REFERENCE
  assert notes and "Filled 24" in notes[0]
  for rest in ("attention_previous.attn.in_proj_weight", "link_ffn.layers.1.bias"):
    for s in (0, 1):
      np.testing.assert_array_equal(state[f"roi_head.mask_head.{s}.{rest}"],
                                    state[f"roi_head.mask_head.2.{rest}"])


def test_without_filling_only_last_stage_links(r50_link_last):
  state = flax_to_torch.flax_to_torch(_zeros(r50_link_last), fill_dead_links=False)
  expected = [e for e in REFERENCE
              if not (e[0].startswith(("roi_head.mask_head.0.", "roi_head.mask_head.1."))
                      and reference_keys.TEMPORAL_KEY.match(e[0]))]
  assert _layout(state) == expected


def test_counters_are_int64_zero_and_params_float32(r50_link_all):
  state = flax_to_torch.flax_to_torch(_zeros(r50_link_all))
  counters = [k for k in state if k.endswith("num_batches_tracked")]
  assert len(counters) == 53
  assert all(state[k].dtype == np.int64 and state[k].shape == () and state[k] == 0
             for k in counters)
  assert {v.dtype for k, v in state.items() if k not in counters} == {np.dtype(np.float32)}


def test_unnamed_flax_variable_is_an_error():
  variables = {"params": {"backbone": {"stem": {"kernel": np.zeros((3, 3, 3, 8), np.float32)}}}}
  with pytest.raises(ValueError, match="no PyTorch name.*backbone/stem/kernel"):
    flax_to_torch.flax_to_torch(variables)


IMAGE_REFERENCE = [tuple(e) for e in reference_keys.load(reference_keys.KNET_IMAGE_R50)]


def test_image_knet_mode_exports_the_original_image_knet_layout():
  cfg = model_fixtures.config(link_all_stages=True)
  cfg.model.temporal.enabled = False   # the original's image `KNet`.
  abstract = model_fixtures.abstract(cfg)
  assert "track_head" not in abstract["params"] and "embed_fcs" not in abstract["params"]
  # 37,419,660 parameters (original_state_dict_keys_knet_image.json 'num_parameters').
  assert sum(int(np.prod(s.shape)) for s in jax.tree.leaves(abstract["params"])) == 37_419_660
  state = flax_to_torch.flax_to_torch(_zeros(abstract), fill_dead_links=False)
  assert _layout(state) == IMAGE_REFERENCE
  assert len(state) == 502


@pytest.mark.parametrize("arg, image, reference, num_params", [
    # (config argument, image K-Net, key list, original 'num_parameters').
    ("swin_b", False, reference_keys.VIDEO_KNET_SWINB, 111_163_396),
    ("swin_l", False, reference_keys.VIDEO_KNET_SWINL, 219_662_304),
    ("swin_b", True, reference_keys.KNET_IMAGE_SWINB, 100_165_124),
])
def test_swin_models_have_the_original_parameters_and_export_layout(arg, image, reference,
                                                                    num_params):
  if image:   # the Cityscapes-STEP image K-Net recipe's model.
    cfg = model_fixtures.config(link_all_stages=True)
    swin_recipes.apply_image_knet_swin(cfg, arg)
  else:
    cfg = model_fixtures.config(arg, link_all_stages=True)
  abstract = model_fixtures.abstract(cfg)
  assert sum(int(np.prod(s.shape)) for s in jax.tree.leaves(abstract["params"])) == num_params
  assert not abstract.get("batch_stats")   # LayerNorm only: no running statistics.
  state = flax_to_torch.flax_to_torch(_zeros(abstract), fill_dead_links=False)
  assert _layout(state) == [tuple(e) for e in reference_keys.load(reference)]
  index = state["backbone.layers.2.blocks.17.attn.relative_position_index"]
  assert index.dtype == np.int64 and index.shape == (49, 49)
  assert (index.min(), index.max(), index[0, 0], index[0, 48], index[48, 0]) == (0, 168, 84, 0, 168)


def test_swin_l_short_track_fc_exports_the_layout_its_original_config_builds():
  """`kitti_step.py:swin_l_short_track_fc` (the original's Swin-L
  `..._update_conv_short_track_fc`, no key list in the reference): the Swin-L
  `_joint_update` list with the "update" link's `*_track` tensors replaced by
  the R50's ffn link ones in the same place (previous_type='ffn'; the original
  registers the link before the fusion `*_link` layers) and one embedding fc."""
  cfg = model_fixtures.config("swin_l_short_track_fc", link_all_stages=True)
  state = flax_to_torch.flax_to_torch(_zeros(model_fixtures.abstract(cfg)),
                                      fill_dead_links=False)
  ffn_link = {}
  for e in REFERENCE:
    if reference_keys.STAGE_LINK_KEY.match(e[0]):
      ffn_link.setdefault(e[0].split(".")[2], []).append(tuple(e))
  expected, inserted = [], set()
  for e in reference_keys.load(reference_keys.VIDEO_KNET_SWINL):
    link = reference_keys.STAGE_LINK_KEY.match(e.key)
    if link and link.group(2).split(".")[0].endswith("_track"):
      if link.group(1) not in inserted:
        inserted.add(link.group(1))
        expected += ffn_link[link.group(1)]
    elif not e.key.startswith("track_head.fcs.1."):
      expected.append(tuple(e))
  assert inserted == {"0", "1", "2"}
  assert _layout(state) == expected
  assert "track_head.fcs.0.weight" in state and "track_head.fcs.1.weight" not in state
