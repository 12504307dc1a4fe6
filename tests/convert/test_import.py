"""torch-named state_dict -> Flax: bit-exact round trips and strict accounting."""
import re

import jax
import numpy as np
import pytest

from tests.convert import model_fixtures
from video_knet_jax.convert import flax_to_torch
from video_knet_jax.convert import reference_keys
from video_knet_jax.convert import sources
from video_knet_jax.convert import torch_files
from video_knet_jax.convert import torch_to_flax
from flax import traverse_util


def _flat(variables):
  return {(c, p): v for c in variables
          for p, v in traverse_util.flatten_dict(dict(variables[c]), sep="/").items()}


def _assert_bit_identical(a, b):
  fa, fb = _flat(a), _flat(b)
  assert fa.keys() == fb.keys()
  for k in fa:
    assert np.asarray(fa[k]).dtype == np.asarray(fb[k]).dtype, k
    np.testing.assert_array_equal(np.asarray(fa[k]), np.asarray(fb[k]), err_msg=str(k))


@pytest.fixture(scope="module")
def r50_state(r50_link_all):
  """A random original-layout state_dict (numpy) and the Flax variables it came from."""
  variables = model_fixtures.random_variables(r50_link_all, seed=1)
  return flax_to_torch.flax_to_torch(variables), variables


def test_flax_torch_flax_is_bit_identical(r50_link_all, r50_state):
  state, variables = r50_state
  back, report = torch_to_flax.torch_to_flax(state, r50_link_all)
  _assert_bit_identical(back, variables)
  assert report.source == sources.VIDEO_KNET
  assert len(report.loaded) == 549 - 53 and not report.left_at_init
  assert [r for _, r in report.dropped] == ["BatchNorm counter (not a Flax variable)"] * 53


@pytest.mark.parametrize("link_all_stages", [True, False])
def test_debug_config_round_trip(link_all_stages):
  abstract = model_fixtures.abstract(model_fixtures.config("debug", link_all_stages))
  variables = model_fixtures.random_variables(abstract, seed=2)
  state = flax_to_torch.flax_to_torch(variables)   # fills dead links when needed.
  back, report = torch_to_flax.torch_to_flax(state, abstract)
  _assert_bit_identical(back, variables)
  dead = [k for k, r in report.dropped if "link_all_stages=False" in r]
  assert len(dead) == (0 if link_all_stages else 12)   # 1 earlier stage x 12 tensors.


def test_original_into_last_stage_linking_model_drops_dead_layers(r50_link_last, r50_state):
  state, variables = r50_state
  back, report = torch_to_flax.torch_to_flax(state, r50_link_last)
  dead = sorted(k for k, r in report.dropped if "link_all_stages=False" in r)
  assert len(dead) == 24 and all(re.match(r"roi_head\.mask_head\.[01]\.", k) for k in dead)
  assert not report.unexpected and not report.missing
  np.testing.assert_array_equal(
      back["params"]["roi_head"]["mask_head"]["2"]["link_ffn"]["layers"]["1"]["kernel"],
      variables["params"]["roi_head"]["mask_head"]["2"]["link_ffn"]["layers"]["1"]["kernel"])


def test_image_knet_leaves_only_temporal_layers_at_init(r50_link_all, r50_state):
  state, variables = r50_state
  image_keys = [e.key for e in reference_keys.load(reference_keys.KNET_IMAGE_R50)]
  image_state = {k: state[k] for k in image_keys}
  back, report = torch_to_flax.torch_to_flax(image_state, r50_link_all)   # strict.
  assert report.source == sources.KNET_IMAGE
  assert len(report.expected_missing) == 549 - 502 and not report.missing
  assert all(reference_keys.TEMPORAL_KEY.match(k) for k in report.expected_missing)
  init = jax.tree.map(lambda s: np.full(s.shape, 7.0, s.dtype), r50_link_all)
  filled = torch_to_flax.fill_left_at_init(back, init)
  flat, flat_vars = _flat(filled), _flat(variables)
  for key in report.left_at_init:
    assert re.search(r"(attention_previous|link_ffn|track_head|embed_fcs|fc_embed)", key), key
    assert np.all(flat[tuple(key.split("/", 1))] == 7.0)
  # Per stage 16 linking leaves (q/k/v/out kernel+bias, 2 LNs, 2 FFN Dense);
  # track_head 6, embed_fcs 3, fc_embed 2.
  assert len(report.left_at_init) == 3 * 16 + 6 + 3 + 2
  np.testing.assert_array_equal(flat[("params", "rpn_head/conv_seg/kernel")],
                                flat_vars[("params", "rpn_head/conv_seg/kernel")])


def test_strictness(r50_link_all, r50_state):
  state, _ = r50_state
  extra = dict(state, **{"roi_head.mask_head.0.extra.weight": np.zeros(3, np.float32)})
  with pytest.raises(torch_to_flax.ConversionError, match="1 unexpected"):
    torch_to_flax.torch_to_flax(extra, r50_link_all)
  _, report = torch_to_flax.torch_to_flax(extra, r50_link_all, strict=False)
  assert report.unexpected == ["roi_head.mask_head.0.extra.weight"]

  lacking = {k: v for k, v in state.items() if k != "neck.fpn_convs.3.conv.bias"}
  with pytest.raises(torch_to_flax.ConversionError, match="1 missing"):
    torch_to_flax.torch_to_flax(lacking, r50_link_all)
  _, report = torch_to_flax.torch_to_flax(lacking, r50_link_all, strict=False)
  assert report.missing == ["neck.fpn_convs.3.conv.bias"]
  assert report.left_at_init == ["params/neck/fpn_convs/3/conv/bias"]

  wrong = dict(state, **{"rpn_head.conv_seg.weight": np.zeros((20, 256, 1, 1), np.float32)})
  with pytest.raises(torch_to_flax.ConversionError, match=r"conv_seg.weight', \(20, 256, 1, 1\), "
                     r"\(19, 256, 1, 1\)"):
    torch_to_flax.torch_to_flax(wrong, r50_link_all)
  _, report = torch_to_flax.torch_to_flax(wrong, r50_link_all, strict=False)
  assert report.left_at_init == ["params/rpn_head/conv_seg/kernel"]
  assert report.missing == ["rpn_head.conv_seg.weight"]


def test_torchvision_resnet_import_then_export_gives_the_same_tensors(r50_link_all):
  rng = np.random.RandomState(3)
  tv = {}
  for e in reference_keys.load(reference_keys.VIDEO_KNET_R50):
    if e.key.startswith("backbone."):
      dtype = np.int64 if e.dtype == "int64" else np.float32
      tv[e.key[len("backbone."):]] = (rng.standard_normal(e.shape) + 2).astype(dtype)
  tv["fc.weight"] = rng.standard_normal((1000, 2048)).astype(np.float32)
  tv["fc.bias"] = rng.standard_normal(1000).astype(np.float32)
  assert sources.detect(tv) == sources.TORCHVISION_RESNET
  back, report = torch_to_flax.torch_to_flax(tv, r50_link_all)
  assert {k for k, _ in report.dropped} >= {"fc.weight", "fc.bias"}
  assert not report.missing and all(not k.startswith("backbone.")
                                    for k in report.expected_missing)
  zeros = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), r50_link_all)
  exported = flax_to_torch.flax_to_torch(torch_to_flax.fill_left_at_init(back, zeros))
  for k, v in tv.items():
    if k.startswith("fc.") or k.endswith("num_batches_tracked"):
      continue
    np.testing.assert_array_equal(exported["backbone." + k], v, err_msg=k)


def test_source_detection_errors():
  assert sources.detect({"patch_embed.proj.weight": 0, "layers.0.blocks.0.norm1.weight": 0}) \
      == sources.SWIN_IMAGENET
  with pytest.raises(ValueError, match="cannot tell"):
    sources.detect({"encoder.weight": 0})


def test_official_swin_checkpoint_imports_and_exports_back_identically(tmp_path):
  """A generated `{'model': ...}` Swin file (official names, buffers, head) round trips."""
  torch = pytest.importorskip("torch")
  cfg = model_fixtures.config("swin_b,debug")
  abstract = model_fixtures.abstract(cfg)
  exported = flax_to_torch.flax_to_torch(model_fixtures.random_variables(abstract, seed=4))
  official = {k: v for k, v in flax_to_torch.to_swin_imagenet(exported).items()}
  rng = np.random.RandomState(5)
  extra = {"norm.weight": rng.standard_normal(128), "norm.bias": rng.standard_normal(128),
           "head.weight": rng.standard_normal((10, 128)), "head.bias": rng.standard_normal(10)}
  for k in list(official):   # the released files keep the shift masks of odd blocks.
    if k.endswith("relative_position_index") and int(k.split(".")[3]) % 2:
      extra[k.replace("relative_position_index", "attn_mask")] = rng.standard_normal((4, 49, 49))
  path = str(tmp_path / "swin_tiny_22k.pth")
  torch.save({"model": {k: torch.from_numpy(np.asarray(v, np.float32) if v.dtype != np.int64
                                            else v) for k, v in {**official, **extra}.items()}},
             path)

  state, _ = torch_files.load_state_dict(path)
  variables, report = torch_to_flax.torch_to_flax(state, abstract, path=path)  # strict.
  assert report.source == sources.SWIN_IMAGENET
  dropped = {k for k, _ in report.dropped}
  index_keys = {k for k in official if k.endswith("relative_position_index")}
  assert dropped == set(extra) | index_keys
  assert len(index_keys) == 8 and not report.missing and not report.unexpected
  assert {k for k in report.expected_missing if k.startswith("backbone.")} == {
      f"backbone.norm{i}.{n}" for i in range(4) for n in ("weight", "bias")}
  assert set(report.loaded) == set(official) - index_keys

  back = flax_to_torch.to_swin_imagenet(flax_to_torch.flax_to_torch(
      torch_to_flax.fill_left_at_init(variables, model_fixtures.random_variables(abstract))))
  assert list(back) == list(official)
  for k, v in official.items():
    assert back[k].dtype == v.dtype, k
    np.testing.assert_array_equal(back[k], v, err_msg=k)
  # A checkpoint for another window size is refused (its index differs).
  other = dict(state, **{"layers.0.blocks.0.attn.relative_position_index":
                         state["layers.0.blocks.0.attn.relative_position_index"][::-1].copy()})
  with pytest.raises(torch_to_flax.ConversionError, match="relative_position_index"):
    torch_to_flax.torch_to_flax(other, abstract)
