"""configs/youtube_vis.py:deformable / :swin_b,deformable and configs/coco.py: the
original recipes' numbers, refused arguments, and the :debug models running."""
import jax
import jax.numpy as jnp
import pytest

from video_knet_jax.configs import coco
from video_knet_jax.configs import youtube_vis
from video_knet_jax.data import coco_augment
from video_knet_jax.datasets import facts
from video_knet_jax.models import knet_track
from video_knet_jax.models import necks
from video_knet_jax.models import video_knet


def _decoder_numbers(neck):
  return (neck.name, neck.num_encoder_levels, neck.num_layers, neck.num_heads, neck.num_points,
          neck.ffn_channels, neck.num_groups, neck.pe_num_feats, neck.num_outs)


ORIGINAL_DECODER = ("msdeformattn_pixel_decoder", 3, 6, 8, 4, 1024, 32, 128, 3)


def test_deformable_vis_recipes():
  r50, swin = youtube_vis.get_config("deformable"), youtube_vis.get_config("swin_b,deformable")
  for c in (r50, swin):
    assert _decoder_numbers(c.model.neck) == ORIGINAL_DECODER
    # schedule_1x, 1 clip per GPU x 8 GPUs (both deformable recipes).
    assert (c.train.num_epochs, tuple(c.optim.decay_epochs), c.train.batch_size) == (
        12, (8, 11), 8)
    assert necks.neck_name(c.model) == "msdeformattn_pixel_decoder"
  assert r50.model.backbone.name == "resnet" and swin.model.backbone.embed_dims == 128
  assert swin.model.backbone.remat and swin.model.backbone.drop_path_rate == 0.3  # with_cp.
  assert necks.neck_name(youtube_vis.get_config().model) == "fpn"
  tiny = youtube_vis.get_config("swin_b,deformable,debug")
  assert set(tiny.keys()) == set(swin.keys())
  assert tiny.model.neck.pe_num_feats * 2 == tiny.model.feat_channels
  for bad in ("deformable,deformable", "swin_l,deformable", "deformable_fpn"):
    with pytest.raises(ValueError, match="config argument"):
      youtube_vis.get_config(bad)


def test_coco_recipes():
  configs = {arg: coco.get_config(arg) for arg in coco.ARGUMENTS}
  for arg, c in configs.items():
    # ms-3x: 1333 x [640, 800], RepeatDataset x3 x 12 epochs, steps 9 and 11, 16 images.
    assert (c.data.long_side, tuple(c.data.short_side_range), c.data.scale_mode) == (
        1333, (640, 800), "range")
    assert (c.train.dataset_repeats, c.train.num_epochs, tuple(c.optim.decay_epochs),
            c.train.batch_size) == (3, 12, (9, 11), 16)
    assert (c.optim.lr, c.optim.weight_decay, c.optim.backbone_lr_mult) == (1e-4, 0.05, 0.25)
    assert (c.model.num_proposals, c.model.num_stages, c.loss.mask_assign_stride) == (100, 3, 4)
    assert not video_knet.is_temporal(c.model)            # the image `KNet`.
    facts.facts_for_config(c)                             # label space agrees.
    params = coco_augment.CocoAugmentParams.from_config(c.data)
    assert (params.mode, params.long_side, params.canvas) == ("range", 1333, (1344, 1344))
  assert necks.neck_name(configs[""].model) == necks.neck_name(configs["panoptic"].model) == "fpn"
  for arg in ("deformable", "swin_b,deformable"):
    assert _decoder_numbers(configs[arg].model.neck) == ORIGINAL_DECODER
  assert configs["swin_b,deformable"].model.backbone.remat is False   # with_cp=False.
  panoptic = configs["panoptic"]
  assert (panoptic.data.name, panoptic.model.num_thing_classes,
          panoptic.model.num_stuff_classes) == ("coco_panoptic", 80, 53)
  assert (panoptic.loss.rank, panoptic.loss.rpn_rank, configs[""].loss.rank) == (0.1, 0.1, 0.0)
  assert panoptic.inference.overlap_thr == 0.6 and panoptic.inference.stuff_score_thr == 0.05
  for bad in ("swin_b", "panoptic,deformable", "debug,debug", "lsj"):
    with pytest.raises(ValueError, match="config argument"):
      coco.get_config(bad)


@pytest.mark.parametrize("config_fn, arg", [(coco.get_config, "deformable,debug"),
                                            (youtube_vis.get_config, "swin_b,deformable,debug")])
def test_debug_models_with_the_decoder_trace(config_fn, arg):
  """Shapes only (jax.eval_shape): compiling a tiny Swin costs ~40 CPU-s here; the
  R50 decoder runs in test_deformable_vis_end_to_end.py."""
  config = config_fn(arg)
  is_vis = config.get("task") == "instance"
  model = (knet_track if is_vis else video_knet).build_model(config)
  images = jax.ShapeDtypeStruct((1, 2, 64, 96, 3) if is_vis else (2, 64, 96, 3), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), images)
  neck = variables["params"]["neck"]
  assert neck["level_encoding"]["embedding"].shape == (3, config.model.feat_channels)
  assert len(neck["encoder"]["layers"]) == config.model.neck.num_layers
  out = jax.eval_shape(model.apply, variables, images)
  n = config.model.num_proposals
  if is_vis:
    assert out[knet_track.CLIP_CLS_LOGITS].shape == (2, 1, n, 40)
    assert out[knet_track.FRAME_MASK_LOGITS].shape[-2:] == (8, 12)   # stride 8.
  else:
    assert out["cls_logits"].shape == (2, n, 80)
