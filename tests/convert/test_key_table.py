"""The key table names every original tensor and its transforms invert exactly."""
import numpy as np
import pytest

from video_knet_jax.convert import key_table
from video_knet_jax.convert import reference_keys


@pytest.mark.parametrize("name", reference_keys.ALL)
def test_every_reference_key_resolves_both_ways(name):
  for entry in reference_keys.load(name):
    match = key_table.match_torch_key(entry.key)
    assert match is not None, entry.key
    for slot, (collection, path) in enumerate(match.flax_paths):
      back, back_slot = key_table.match_flax_path(collection, path)
      assert (back.torch_key, back_slot) == (entry.key, slot)


@pytest.mark.parametrize("key, expected", [
    ("backbone.layer3.5.conv2.weight", (("params", "backbone/layer3/5/conv2/kernel"),)),
    ("backbone.layer2.0.downsample.1.running_var", (("batch_stats",
                                                     "backbone/layer2/0/downsample/1/var"),)),
    ("rpn_head.localization_fpn.convs_all_levels.3.conv2.gn.weight",
     (("params", "rpn_head/localization_fpn/convs_all_levels/3/conv2/gn/scale"),)),
    ("roi_head.mask_head.2.attention_previous.attn.in_proj_bias",
     tuple(("params", f"roi_head/mask_head/2/attention_previous/attn/{n}/bias")
           for n in ("query", "key", "value"))),
    ("roi_head.mask_head.0.ffn.layers.0.0.weight",
     (("params", "roi_head/mask_head/0/ffn/layers/0/0/kernel"),)),
    ("roi_head.mask_head.1.cls_fcs.1.bias", (("params", "roi_head/mask_head/1/cls_fcs/1/bias"),)),
    ("embed_fcs.1.weight", (("params", "embed_fcs/1/scale"),)),
    ("backbone.bn1.num_batches_tracked", ()),
    ("backbone.layers.2.blocks.5.attn.relative_position_bias_table",
     (("params", "backbone/layers/2/blocks/5/attn/relative_position_bias_table"),)),
    ("backbone.layers.2.blocks.5.attn.relative_position_index", ()),
    ("backbone.layers.0.downsample.reduction.weight",
     (("params", "backbone/layers/0/downsample/reduction/kernel"),)),
    ("backbone.norm3.bias", (("params", "backbone/norm3/bias"),)),
    ("roi_head.mask_head.2.attention_previous_update_track.fc_norm.weight",
     (("params", "roi_head/mask_head/2/attention_previous_update_track/fc_norm/scale"),)),
])
def test_hand_picked_paths(key, expected):
  assert key_table.match_torch_key(key).flax_paths == expected


def test_unknown_names_are_not_guessed():
  assert key_table.match_torch_key("backbone.layer1.0.conv4.weight") is None
  assert key_table.match_torch_key("roi_head.mask_head.0.cls_fcs.2.weight") is None  # ReLU slot.
  assert key_table.match_flax_path("params", "backbone/stem/kernel") is None
  assert key_table.match_flax_path("batch_stats", "backbone/conv1/kernel") is None


def _roundtrip(key, tensor, flax_shapes):
  match = key_table.match_torch_key(key)
  leaves = key_table.to_flax(match, tensor, flax_shapes)
  assert tuple(l.shape for l in leaves) == flax_shapes
  back = key_table.to_torch(match, leaves)
  np.testing.assert_array_equal(back, tensor)
  return leaves


def test_conv_is_oihw_to_hwio():
  w = np.random.RandomState(0).randn(5, 3, 3, 2).astype(np.float32)   # O, I, H, W.
  (k,) = _roundtrip("neck.fpn_convs.0.conv.weight", w, ((3, 2, 3, 5),))
  assert k[2, 1, 0, 4] == w[4, 0, 2, 1]


def test_linear_is_transposed():
  w = np.random.RandomState(0).randn(6, 4).astype(np.float32)   # out, in.
  (k,) = _roundtrip("fc_embed.weight", w, ((4, 6),))
  x = np.random.RandomState(1).randn(4).astype(np.float32)
  np.testing.assert_allclose(x @ k, w @ x, rtol=1e-6)


def test_packed_attention_splits_into_contiguous_heads():
  e, h = 8, 2
  w = np.random.RandomState(0).randn(3 * e, e).astype(np.float32)
  b = np.random.RandomState(1).randn(3 * e).astype(np.float32)
  q, k, v = _roundtrip("roi_head.mask_head.0.attention.attn.in_proj_weight", w,
                       ((e, h, e // h),) * 3)
  qb, kb, vb = _roundtrip("roi_head.mask_head.0.attention.attn.in_proj_bias", b,
                          ((h, e // h),) * 3)
  x = np.random.RandomState(2).randn(e).astype(np.float32)
  # Flax DenseGeneral: y[h, d] = sum_e x[e] k[e, h, d] + b[h, d]; torch: W_k x + b_k.
  torch_k = w[e:2 * e] @ x + b[e:2 * e]
  np.testing.assert_allclose(np.einsum("e,ehd->hd", x, k) + kb, torch_k.reshape(h, e // h),
                             rtol=1e-5, atol=1e-6)
  wo = np.random.RandomState(3).randn(e, e).astype(np.float32)
  (o,) = _roundtrip("roi_head.mask_head.0.attention.attn.out_proj.weight", wo, ((h, e // h, e),))
  heads = np.random.RandomState(4).randn(h, e // h).astype(np.float32)
  np.testing.assert_allclose(np.einsum("hd,hde->e", heads, o), wo @ heads.reshape(-1),
                             rtol=1e-5, atol=1e-6)


def test_wrong_rank_is_an_error():
  match = key_table.match_torch_key("neck.fpn_convs.0.conv.weight")
  with pytest.raises(ValueError, match="4-D"):
    key_table.to_flax(match, np.zeros((3, 3), np.float32), ((1, 1, 3, 3),))


def test_registration_order_generalises():
  keys = ["fc_embed.bias", "backbone.layer1.10.conv1.weight", "backbone.layer1.2.conv1.weight",
          "roi_head.mask_head.1.fc_cls.weight", "roi_head.mask_head.0.link_ffn_norm.bias",
          "track_head.fcs.0.weight", "neck.lateral_convs.0.conv.weight"]
  assert reference_keys.sort_keys(keys) == [
      "backbone.layer1.2.conv1.weight", "backbone.layer1.10.conv1.weight",
      "neck.lateral_convs.0.conv.weight", "roi_head.mask_head.0.link_ffn_norm.bias",
      "roi_head.mask_head.1.fc_cls.weight", "track_head.fcs.0.weight", "fc_embed.bias"]
