"""Each ablation variant that adds or removes layers exports exactly what the
original builds for it (`ablation_keys`: lists from the original's modules)."""
import jax
import numpy as np
import pytest

from tests.convert import ablation_keys
from tests.convert import model_fixtures
from video_knet_jax.convert import flax_to_torch
from video_knet_jax.convert import reference_keys


def _zeros(abstract):
  return jax.tree.map(lambda s: np.broadcast_to(np.zeros((), s.dtype), s.shape), abstract)


def _export(overrides, fill_dead_links=False):
  cfg = model_fixtures.config(link_all_stages=not fill_dead_links)
  for path, value in overrides.items():
    node = cfg.model.temporal
    node[path] = value
  state = flax_to_torch.flax_to_torch(_zeros(model_fixtures.abstract(cfg)),
                                      fill_dead_links=fill_dead_links)
  return [(k, tuple(v.shape), str(v.dtype)) for k, v in state.items()]


def _expected(entries):
  return [tuple(e) for e in entries]


R50 = ablation_keys.released()


@pytest.mark.parametrize("name, overrides, expected", [
    ("RoI-Align", dict(embedding="roi_align"), ablation_keys.roi_align(R50)),
    ("Mask-Emb", dict(embedding="mask_emb"), ablation_keys.mask_emb(R50)),
    ("kernels + Mask-Emb", dict(embedding="kernels+mask_emb"), R50),
    ("fusion with update", dict(fusion=True), ablation_keys.with_fusion(R50)),
    ("fusion without update", dict(fusion=True, fusion_update=False),
     ablation_keys.with_fusion(R50, update=False)),
    ("RoI-Align on the fusion model", dict(embedding="roi_align", fusion=True),
     ablation_keys.roi_align(ablation_keys.with_fusion(R50))),
])
def test_variant_exports_the_original_layout(name, overrides, expected):
  assert _export(overrides) == _expected(expected), name


def test_linking_at_stage_one_exports_the_released_layout():
  # Built in stage 0 only (link_all_stages False), filled into the others on export.
  assert _export(dict(link_stage=1), fill_dead_links=True) == _expected(R50)


def test_fixture_rules_match_the_original_swin_fusion_names():
  # The fusion block's names as the original's Swin-B state_dict spells them.
  swin = {e.key for e in reference_keys.load(reference_keys.VIDEO_KNET_SWINB)
          if e.key.startswith("roi_head.mask_head.2.") and "_link" in e.key}
  ours = {e.key for e in ablation_keys.with_fusion(R50)
          if e.key.startswith("roi_head.mask_head.2.") and "_link" in e.key}
  assert ours == swin and len(ours) == 32
  assert len(ablation_keys.roi_align(R50)) == 549 - 11 + 16
