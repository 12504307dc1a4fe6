"""configs/youtube_vis.py: the original's VIS numbers, ':debug' the same recipe smaller."""

import pytest

from video_knet_jax.datasets import facts

from video_knet_jax.configs import youtube_vis


def test_original_vis_numbers_live_in_the_config():
  c = youtube_vis.get_config()
  assert (c.model.num_proposals, c.model.num_stages, c.model.tracker.num_stages) == (100, 3, 3)
  assert (c.optim.lr, c.optim.weight_decay, c.optim.backbone_lr_mult) == (1e-4, 0.05, 0.25)
  assert (c.optim.decay_epochs, c.train.num_epochs, c.train.batch_size) == ((8, 11), 12, 16)
  assert (c.loss.cls, c.loss.mask, c.loss.dice, c.loss.rpn_dice) == (2.0, 1.0, 4.0, 4.0)
  assert c.data.short_sides == (288, 320, 352, 392, 416, 448, 480, 512)
  assert (c.data.clip_length, c.data.test_size, c.inference.max_per_video) == (5, (360, 640), 10)
  # Stride-8 masks are upsampled to the stride-4 supervision.
  assert 8 // c.model.update_head.mask_upsample_stride == c.loss.mask_assign_stride == 4
  assert 8 // c.model.kernel_head.feat_downsample_stride == 4
  assert facts.facts_for_config(c).num_things == 40


def test_debug_variant_is_the_same_recipe_smaller():
  full, debug = youtube_vis.get_config(), youtube_vis.get_config("debug")
  assert set(full.keys()) == set(debug.keys())
  assert debug.model.feat_channels < full.model.feat_channels
  assert len(debug.loss.stage_weights) == debug.model.num_stages
  assert len(full.loss.stage_weights) == full.model.num_stages
  assert len(full.loss.tracker_stage_weights) == full.model.tracker.num_stages
  with pytest.raises(ValueError, match="debugg"):
    youtube_vis.get_config("debugg")


def test_swin_b_debug_is_a_tiny_swin_and_other_sizes_are_refused():
  swin, tiny = youtube_vis.get_config("swin_b"), youtube_vis.get_config("swin_b,debug")
  assert swin.model.backbone.name == tiny.model.backbone.name == "swin"
  assert tiny.model.backbone.embed_dims < swin.model.backbone.embed_dims
  assert tiny.model.fpn.in_channels == tuple(tiny.model.backbone.embed_dims * 2**i
                                             for i in range(4))
  assert tiny.model.feat_channels == youtube_vis.get_config("debug").model.feat_channels
  with pytest.raises(ValueError, match="swin_l"):
    youtube_vis.get_config("swin_l")
