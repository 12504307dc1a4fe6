"""KNetTrack: the R50 layout equals the original's, padded frames are inert."""

import jax
import jax.numpy as jnp
import numpy as np

from video_knet_jax.convert import flax_to_torch
from video_knet_jax.convert import model_variables
from video_knet_jax.convert import reference_keys
from video_knet_jax.models import knet_track

from video_knet_jax.configs import youtube_vis


def _size(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _exported_state(config, num_params, reference_file, num_keys):
  """The export of `config`'s (zero) variables, after checking its parameter
  count and that its (key, shape, dtype) list is the original's."""
  abstract = model_variables.abstract_variables(config)
  assert _size(abstract["params"]) == num_params
  zeros = jax.tree.map(
      lambda s: np.broadcast_to(np.zeros((), s.dtype), s.shape), abstract)
  state = flax_to_torch.flax_to_torch(zeros, fill_dead_links=False)
  layout = [(k, tuple(v.shape), str(v.dtype)) for k, v in state.items()]
  reference = [tuple(e) for e in reference_keys.load(reference_file)]
  assert len(reference) == num_keys
  assert layout == reference
  return state


def test_r50_parameter_count_and_export_layout_equal_the_original():
  state = _exported_state(youtube_vis.get_config(), 43_521_328,
                          reference_keys.VIS_R50_YTVIS, 629)
  # The per-frame stage has classes, the last clip stage has none.
  assert "roi_head.mask_head.2.fc_cls.weight" in state
  assert "tracker.mask_head.1.fc_cls.weight" in state
  assert not any(k.startswith(("tracker.mask_head.2.fc_cls",
                               "tracker.mask_head.2.cls_fcs")) for k in state)


def test_swin_b_parameter_count_and_export_layout_equal_the_original():
  config = youtube_vis.get_config("swin_b")
  assert config.model.backbone.name == "swin"
  assert config.model.fpn.in_channels == (128, 256, 512, 1024)
  assert (config.train.num_epochs, tuple(config.optim.decay_epochs),
          config.train.batch_size) == (8, (7,), 8)
  _exported_state(config, 106_266_792, reference_keys.VIS_SWINB_YTVIS, 668)


def test_padded_frames_do_not_change_the_real_frames():
  config = youtube_vis.get_config("debug")
  model = knet_track.build_model(config)
  rng = np.random.default_rng(0)
  clip = jnp.asarray(rng.normal(size=(1, 2, 64, 64, 3)), jnp.float32)
  variables = model.init(jax.random.key(0), clip)
  padded = clip.at[:, 1].set(jnp.asarray(rng.normal(size=(64, 64, 3))))
  one = model.apply(variables, clip[:, :1])
  two = model.apply(variables, padded, jnp.asarray([[1.0, 0.0]]))
  for key in (knet_track.CLIP_CLS_LOGITS,):
    np.testing.assert_allclose(two[key], one[key], atol=1e-5)
  np.testing.assert_allclose(two[knet_track.CLIP_MASK_LOGITS][:, :1],
                             one[knet_track.CLIP_MASK_LOGITS], atol=1e-4)
  # Without the weights the second frame does enter the clip kernels.
  both = model.apply(variables, padded)
  assert not np.allclose(both[knet_track.CLIP_CLS_LOGITS],
                         one[knet_track.CLIP_CLS_LOGITS], atol=1e-5)
  assert two[knet_track.CLIP_CLS_LOGITS].shape == (2, 1, 8, 40)
  assert two[knet_track.FRAME_MASK_LOGITS].shape == (2, 2, 8, 8, 8)
