"""Head parity with PyTorch models written from the original's code paths:
the RoI-Align and Mask-Emb embeddings, kernels + Mask-Emb, and fusion without
update (`link_atten`). Weights go Flax -> export -> strict load into torch."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.convert import model_fixtures
from video_knet_jax.configs import kitti_step
from video_knet_jax.convert import flax_to_torch
from video_knet_jax.models import kernel_update_head
from video_knet_jax.models import video_knet

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

# pylint: disable-next=g-import-not-at-top,wrong-import-position
from tests.convert.torch_reference import track_embed
from tests.convert.torch_reference import update_head as torch_update_head
from tests.convert.torch_reference import video_knet as torch_video_knet

D = 32   # the :debug width.


def _model(embedding):
  cfg = kitti_step.get_config("debug")
  cfg.model.temporal.embedding = embedding
  model = video_knet.build_model(cfg)
  abstract = jax.eval_shape(model.init, jax.random.key(0),
                            jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32))
  return cfg, model, model_fixtures.random_variables(abstract, seed=3)


def _torch_state(variables, prefixes):
  state = flax_to_torch.flax_to_torch(variables)
  return {k: torch.from_numpy(np.array(v)) for k, v in state.items() if k.startswith(prefixes)}


def _masks(rng, k, hw):
  """k masks of rectangles of several sizes (levels 0..2 at 256 x 256), one empty."""
  masks = np.zeros((k,) + hw, bool)
  for i in range(k - 1):
    h, w = rng.integers(4, hw[0] - 1), rng.integers(4, hw[1] - 1)
    y, x = rng.integers(0, hw[0] - h), rng.integers(0, hw[1] - w)
    masks[i, y:y + h, x:x + w] = True
    masks[i, y + h // 2, x:x + w // 3] = False       # not a rectangle.
  return masks


def test_roi_align_embedding_matches_the_original():
  cfg, model, variables = _model("roi_align")
  r = cfg.model.temporal.roi_embed
  rng = np.random.default_rng(0)
  hw = (256, 256)
  feats = [rng.normal(size=(1, hw[0] // s, hw[1] // s, D)).astype(np.float32)
           for s in (4, 8, 16, 32)]
  x_feats = rng.normal(size=(1, 32, 32, D)).astype(np.float32)
  masks = _masks(rng, 6, hw)
  got = model.apply(variables, [jnp.asarray(f) for f in feats], jnp.asarray(x_feats),
                    jnp.asarray(masks[None]), method=video_knet.VideoKNet.embed_masks)[0]

  ref = track_embed.RoIEmbedTrack(D, r.num_groups, r.num_convs, r.num_fcs, r.fc_channels,
                                  cfg.model.temporal.embed_channels)
  ref.load_state_dict(_torch_state(variables, ("track_head.",)), strict=True)
  with torch.no_grad():
    want = ref([torch.from_numpy(f).permute(0, 3, 1, 2) for f in feats],
               torch.from_numpy(masks))
  want = want.numpy()   # random unit-variance weights: values in the hundreds.
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("embedding", ["mask_emb", "kernels+mask_emb"])
def test_mask_embedding_matches_the_original(embedding):
  cfg, model, variables = _model(embedding)
  rng = np.random.default_rng(1)
  x_feats = rng.normal(size=(1, 8, 12, D)).astype(np.float32)
  masks = _masks(rng, 5, (64, 96))
  kernels = rng.normal(size=(1, 5, D)).astype(np.float32)
  got = model.apply(variables, [], jnp.asarray(x_feats), jnp.asarray(masks[None]),
                    jnp.asarray(kernels), method=video_knet.VideoKNet.embed_masks)[0]

  e = cfg.model.temporal.embed_channels
  head = torch_video_knet.TrackHead(D, e, e, cfg.model.temporal.track_num_fcs)
  head.load_state_dict({k[len("track_head."):]: v for k, v in
                        _torch_state(variables, ("track_head.",)).items()}, strict=True)
  with torch.no_grad():
    pooled = track_embed.mask_emb_pool(torch.from_numpy(x_feats).permute(0, 3, 1, 2),
                                       torch.from_numpy(masks))
    if embedding == "kernels+mask_emb":   # + fc_embed(embed_fcs(kernel)) at the head's input.
      embed_fcs = torch.nn.Sequential(torch.nn.Linear(D, D, bias=False), torch.nn.LayerNorm(D),
                                      torch.nn.ReLU())
      fc_embed = torch.nn.Linear(D, D)
      state = _torch_state(variables, ("embed_fcs.", "fc_embed."))
      embed_fcs.load_state_dict({k[len("embed_fcs."):]: v for k, v in state.items()
                                 if k.startswith("embed_fcs.")}, strict=True)
      fc_embed.load_state_dict({k[len("fc_embed."):]: v for k, v in state.items()
                                if k.startswith("fc_embed.")}, strict=True)
      pooled = pooled + fc_embed(embed_fcs(torch.from_numpy(kernels[0])))
    want = head(pooled)
  np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-4, atol=1e-5)


def test_fusion_without_update_matches_the_original_link_atten():
  c, heads, ffn, n, classes = 16, 2, 32, 5, 4
  stage = kernel_update_head.KernelUpdateHead(
      num_classes=classes, num_heads=heads, ffn_channels=ffn, with_link=True,
      with_fusion=True, fusion_update=False)
  rng = np.random.default_rng(2)
  x = rng.normal(size=(1, 6, 7, c)).astype(np.float32)
  kernels, previous = (rng.normal(size=(1, n, c)).astype(np.float32) for _ in range(2))
  masks = rng.normal(size=(1, n, 6, 7)).astype(np.float32)
  abstract = jax.eval_shape(stage.init, jax.random.key(0), x, kernels, masks, previous)
  params = model_fixtures.random_variables(abstract, seed=4)["params"]
  assert "attention_previous_update_link" not in params and "attention_previous_link" in params
  cls, new_masks, obj, track = stage.apply({"params": params}, x, kernels, masks, previous)

  ref = torch_update_head.VideoKernelUpdateHead(c, heads, ffn, classes, fusion="link_atten")
  state = _torch_state({"params": {"roi_head": {"mask_head": {"0": params}}}},
                       ("roi_head.mask_head.0.",))
  ref.load_state_dict({k[len("roi_head.mask_head.0."):]: v for k, v in state.items()},
                      strict=True)
  with torch.no_grad():
    t_cls, t_masks, t_obj, t_track = ref(
        torch.from_numpy(x).permute(0, 3, 1, 2), torch.from_numpy(kernels)[..., None, None],
        torch.from_numpy(masks), torch.from_numpy(previous)[..., None, None])
  for name, a, b in (("cls", cls, t_cls), ("masks", new_masks, t_masks),
                     ("obj", obj, t_obj.reshape(1, n, c)), ("track", track, t_track.reshape(1, n, c))):
    np.testing.assert_allclose(np.asarray(a), b.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)
  # And the update matters: the released fusion gives other masks.
  with_update = stage.clone(fusion_update=True)
  abstract_u = jax.eval_shape(with_update.init, jax.random.key(0), x, kernels, masks, previous)
  params_u = dict(model_fixtures.random_variables(abstract_u, seed=4)["params"])
  params_u.update(params)
  _, masks_u, _, _ = with_update.apply({"params": params_u}, x, kernels, masks, previous)
  assert np.abs(np.asarray(masks_u) - np.asarray(new_masks)).max() > 1e-3
