"""Parameter counts and the torch-key <-> Flax-leaf layout of the full R50 model.

Everything here runs through `jax.eval_shape` (no FLOPs). The reference key
set is the original state_dict (the committed copy in video_knet_jax/convert/reference_keys);
`torch_entry_to_flax_leaves` is the layout contract of notes/param_naming.md
and can be reused by the converter tests.
"""
import numpy as np
import math

import jax
import jax.numpy as jnp
import pytest
from flax import traverse_util

from video_knet_jax.configs import kitti_step

from video_knet_jax.convert import reference_keys  # pylint: disable=wrong-import-position
from video_knet_jax.models import video_knet  # pylint: disable=wrong-import-position

# The original state_dict's entries, committed with the converter (a copy of
# shared/reference/original_state_dict_keys.json that travels with the repo).
REFERENCE = reference_keys.load(reference_keys.VIDEO_KNET_R50)
_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
FULL_INPUT = (1, 384, 1248, 3)


def _abstract_variables(link_all_stages: bool = False, fusion: bool = False):
  config = kitti_step.get_config()
  config.model.temporal.link_all_stages = link_all_stages
  config.model.temporal.fusion = fusion
  model = video_knet.build_model(config)
  return jax.eval_shape(model.init, jax.random.key(0), jnp.zeros(FULL_INPUT, jnp.float32))


@pytest.fixture(scope="module")
def full_variables():
  return _abstract_variables(link_all_stages=True)


def _count(tree) -> int:
  return sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(tree))


def torch_entry_to_flax_leaves(key: str, shape, num_heads: int):
  """One torch state_dict entry -> [(collection, flax path tuple, flax shape)].

  Empty for `num_batches_tracked`; three leaves for a packed MHA in_proj.
  """
  parts = key.split(".")
  *prefix, leaf = parts
  shape = tuple(shape)
  if leaf == "num_batches_tracked":
    return []
  if leaf in ("running_mean", "running_var"):
    return [("batch_stats", (*prefix, leaf[len("running_"):]), shape)]
  if leaf in ("in_proj_weight", "in_proj_bias"):
    e = shape[-1] if leaf == "in_proj_weight" else shape[0] // 3
    h = num_heads
    new = (e, h, e // h) if leaf == "in_proj_weight" else (h, e // h)
    name = "kernel" if leaf == "in_proj_weight" else "bias"
    return [("params", (*prefix, qkv, name), new) for qkv in ("query", "key", "value")]
  if prefix and prefix[-1] == "out_proj":
    if leaf == "weight":
      e = shape[0]
      return [("params", (*prefix[:-1], "out", "kernel"), (num_heads, e // num_heads, e))]
    return [("params", (*prefix[:-1], "out", "bias"), shape)]
  if leaf == "bias":
    return [("params", (*prefix, "bias"), shape)]
  assert leaf == "weight", key
  if len(shape) == 4:    # Conv2d OIHW -> HWIO.
    o, i, kh, kw = shape
    return [("params", (*prefix, "kernel"), (kh, kw, i, o))]
  if len(shape) == 2:    # Linear (out, in) -> (in, out).
    return [("params", (*prefix, "kernel"), (shape[1], shape[0]))]
  return [("params", (*prefix, "scale"), shape)]   # BN / LN / GN.


def test_part_parameter_counts():
  params = _abstract_variables()["params"]
  assert _count(params["backbone"]) == 23_508_032
  assert _count(params["neck"]) == 3_344_384
  assert _count(params["rpn_head"]) == 4_427_027
  stages = params["roi_head"]["mask_head"]
  assert sorted(stages) == ["0", "1", "2"]
  # Stages 0, 1 have no linking layers; the last one has 1,315,072 more.
  assert _count(stages["0"]) == _count(stages["1"]) == 2_046_739
  assert _count(stages["2"]) == 2_046_739 + 1_315_072
  assert _count(params["embed_fcs"]) == 66_048
  assert _count(params["fc_embed"]) == 65_792
  assert _count(params["track_head"]) == 197_376


def test_full_layout_total(full_variables):
  sizes = {e.key: int(np.prod(e.shape)) for e in REFERENCE}
  num_parameters = sum(n for k, n in sizes.items() if not k.endswith(_BUFFERS))
  num_buffer_elements = sum(n for k, n in sizes.items() if k.endswith(_BUFFERS))
  assert _count(full_variables["params"]) == num_parameters == 41_694_092
  # Buffers = BN running mean/var + one num_batches_tracked scalar per BN.
  num_bn = sum(k.endswith("num_batches_tracked") for k in sizes)
  assert _count(full_variables["batch_stats"]) + num_bn == num_buffer_elements == 53_173
  assert set(full_variables) == {"params", "batch_stats"}


def test_every_reference_key_maps_to_a_flax_leaf(full_variables):
  """Bijection between the 549 torch entries (minus num_batches_tracked) and our leaves."""
  num_heads = kitti_step.get_config().model.update_head.num_heads
  ours = {(col, path): leaf.shape
          for col in full_variables
          for path, leaf in traverse_util.flatten_dict(full_variables[col]).items()}
  expected = {}
  assert len(REFERENCE) == 549
  for entry in REFERENCE:
    for col, path, shape in torch_entry_to_flax_leaves(entry.key, list(entry.shape), num_heads):
      expected[(col, path)] = shape
  missing = sorted("/".join(p) for (c, p) in expected.keys() - ours.keys())
  extra = sorted("/".join(p) for (c, p) in ours.keys() - expected.keys())
  assert not missing, f"reference keys without a Flax leaf: {missing[:20]}"
  assert not extra, f"Flax leaves without a reference key: {extra[:20]}"
  wrong = {"/".join(p): (ours[(c, p)], s) for (c, p), s in expected.items() if ours[(c, p)] != s}
  assert not wrong, f"shape mismatches (ours, expected): {wrong}"


def test_fusion_layers_layout():
  params = _abstract_variables(fusion=True)["params"]
  last = params["roi_head"]["mask_head"]["2"]
  for name in ("attention_previous_update_link", "attention_previous_link",
               "attention_previous_norm_link", "link_ffn_link", "link_ffn_norm_link"):
    assert name in last, name
  assert "attention_previous_update_link" not in params["roi_head"]["mask_head"]["1"]
  # The fusion updator has the same layout as the stage's own kernel_update_conv.
  same = jax.tree_util.tree_map(lambda a: a.shape, last["kernel_update_conv"])
  assert jax.tree_util.tree_map(lambda a: a.shape, last["attention_previous_update_link"]) == same
