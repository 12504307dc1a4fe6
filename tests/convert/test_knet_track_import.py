"""Importing original KNetTrack and COCO-instance K-Net checkpoints into KNetTrack."""

import jax
import numpy as np
import pytest
from flax import traverse_util

from tests.convert import model_fixtures
from video_knet_jax.convert import flax_to_torch
from video_knet_jax.convert import model_variables
from video_knet_jax.convert import sources
from video_knet_jax.convert import torch_to_flax

from video_knet_jax.configs import youtube_vis


@pytest.fixture(scope="module")
def abstract():
  return model_variables.abstract_variables(youtube_vis.get_config())


def test_original_knet_track_round_trips_exactly(abstract):
  variables = model_fixtures.random_variables(abstract, seed=3)
  state = flax_to_torch.flax_to_torch(variables)
  assert sources.detect(state) == sources.KNET_TRACK
  back, report = torch_to_flax.torch_to_flax(state, abstract)
  assert not report.left_at_init and not report.missing
  assert len(report.dropped) == 53          # BatchNorm counters only.
  for collection in ("params", "batch_stats"):
    a = traverse_util.flatten_dict(variables[collection])
    b = traverse_util.flatten_dict(back[collection])
    assert a.keys() == b.keys()
    for k in a:
      np.testing.assert_array_equal(a[k], b[k])


def test_coco_instance_knet_reports_what_it_cannot_fill(abstract):
  """A COCO K-Net (80 classes, no tracker): strict fails, lenient reports."""
  variables = model_fixtures.random_variables(abstract, seed=4)
  state = flax_to_torch.flax_to_torch(variables)
  coco = {k: v for k, v in state.items() if not k.startswith("tracker.")}
  for k in list(coco):
    if k.startswith("rpn_head.conv_seg.") or ".fc_cls." in k:
      coco[k] = np.zeros((80,) + coco[k].shape[1:], np.float32)
  assert sources.detect(coco) == sources.KNET_IMAGE
  with pytest.raises(torch_to_flax.ConversionError, match="8 shape mismatches"):
    torch_to_flax.torch_to_flax(coco, abstract)
  loaded, report = torch_to_flax.torch_to_flax(coco, abstract, strict=False)
  mismatched = sorted(
      [f"rpn_head.conv_seg.{n}" for n in ("weight", "bias")]
      + [f"roi_head.mask_head.{s}.fc_cls.{n}" for s in range(3)
         for n in ("weight", "bias")])
  assert sorted(k for k, _, _ in report.shape_mismatch) == mismatched
  # Only the mismatched class layers stay at init unexpectedly; every tracker
  # tensor is reported missing-as-expected for an image K-Net.
  assert sorted(report.missing) == mismatched
  assert len(report.expected_missing) == sum(
      1 for k in state if k.startswith("tracker."))
  assert "shape mismatches: 8" in report.summary()
  backbone = loaded["params"]["backbone"]["conv1"]["kernel"]
  np.testing.assert_array_equal(backbone,
                                variables["params"]["backbone"]["conv1"]["kernel"])
  assert isinstance(loaded["params"]["tracker"]["mask_head"]["0"]["fc_cls"]["kernel"],
                    jax.ShapeDtypeStruct)   # left at init
