"""VideoPredictor end to end: a fake model with hand-made objects, and the real debug model."""

import numpy as np
import pytest
import jax
import jax.numpy as jnp

from video_knet_jax import common
from video_knet_jax.inference import predictor as pr

from video_knet_jax.configs import kitti_step

CAR_TRAIN_ID, ROAD_TRAIN_ID = 13, 0


def _logit(p):
  return float(np.log(p / (1 - p)))


class _FakeModel:
  """Reads objects off the (normalised) image: red square = car A, green = car B.

  On frames whose blue channel is lit, the two objects swap proposal slots, so
  the predictor must follow the segment's kernel index to pick embeddings.
  KERNELS count the frames since the sequence start through previous_kernels.
  """

  def __init__(self, config):
    m = config.model
    self.p, self.s = m.num_proposals, m.num_stuff_classes
    self.c = m.num_thing_classes + m.num_stuff_classes
    self.e = m.temporal.embed_channels
    self.traces = 0

  def apply(self, variables, images, previous_kernels=None, train=False):
    del variables, train
    self.traces += 1                            # runs only while jit traces.
    _, height, width, _ = images.shape
    h, w = height // 8, width // 8
    pooled = images[0].reshape(h, 8, w, 8, 3).mean((1, 3))       # [h, w, 3]
    swap = pooled[..., 2].mean() > 0
    red, green = 10 * pooled[..., 0], 10 * pooled[..., 1]
    first, second = jnp.where(swap, green, red), jnp.where(swap, red, green)
    n = self.p + self.s
    masks = jnp.full((n, h, w), -20.0)
    masks = masks.at[0].set(first).at[1].set(second).at[self.p].set(20.0)  # road everywhere.
    cls = jnp.full((n, self.c), _logit(0.01))
    cls = cls.at[0, 1].set(_logit(0.9)).at[1, 1].set(_logit(0.8))
    cls = cls.at[self.p, 2].set(_logit(0.6))                      # road = model class 2.
    emb_a, emb_b = 5 * jnp.eye(self.e)[0], 5 * jnp.eye(self.e)[1]
    embeds = jnp.zeros((self.p, self.e))
    embeds = embeds.at[0].set(jnp.where(swap, emb_b, emb_a)).at[1].set(jnp.where(swap, emb_a, emb_b))
    seg = jnp.full((self.c, h, w), -5.0).at[2].set(0.0)
    seg = seg.at[1].set(jnp.maximum(red, green))
    kernels = (jnp.zeros((1, n, 4)) if previous_kernels is None else previous_kernels + 1)
    return {common.MASK_LOGITS: masks[None], common.CLS_LOGITS: cls[None],
            common.RPN_SEG_LOGITS: seg[None], common.KERNELS: kernels,
            common.TRACK_EMBEDDINGS: embeds[None]}


def _config():
  config = kitti_step.get_config("debug")       # eval_size (64, 192).
  config.model.num_proposals = 4
  config.model.temporal.embed_channels = 8
  return config


def _frame(a_x, b_x, swap, hw=(60, 180)):
  """Cars as 16 x 40 boxes on an 8-pixel grid at rows 16..31."""
  frame = np.zeros(hw + (3,), np.uint8)
  frame[16:32, a_x:a_x + 40, 0] = 255
  frame[16:32, b_x:b_x + 40, 1] = 255
  if swap:
    frame[..., 2] = 255
  return frame


@pytest.fixture(scope="module")
def fake_predictors():
  """One predictor per association, shared so each compiles once."""
  config = _config()
  return {a: pr.VideoPredictor(_FakeModel(config), {}, config, association=a)
          for a in pr.ASSOCIATIONS}


@pytest.mark.parametrize("association", ["embedding", "mask_iou"])
def test_fake_model_sequence(association, fake_predictors):
  pred = fake_predictors[association]
  # A moves right 8 px per frame, B left (mask IoU 32/48); slots swap on odd frames.
  # Frame sizes vary (as KITTI's do) inside one padded canvas.
  sizes = [(60 - t, 180 - 2 * t) for t in range(4)]
  frames = [_frame(8 + 8 * t, 128 - 8 * t, swap=t % 2 == 1, hw=sizes[t]) for t in range(4)]
  results = list(pred.predict_sequence(frames))
  assert len(results) == 4
  for t, res in enumerate(results):
    assert res.semantic.shape == sizes[t] and res.ids.shape == sizes[t]
    assert res.semantic.dtype == np.int32 and res.ids.dtype == np.int32
    a, b = (24, 28 + 8 * t), (24, 148 - 8 * t)   # box centres.
    assert res.semantic[a] == CAR_TRAIN_ID and res.semantic[b] == CAR_TRAIN_ID
    assert (res.ids[a], res.ids[b]) == (1, 2), f"frame {t}"
    assert res.semantic[50, 90] == ROAD_TRAIN_ID and res.ids[50, 90] == 0
    assert res.panoptic[a] == CAR_TRAIN_ID * 1000 + 1
    assert sorted(res.scores) == [1, 2]
    # Scores follow the objects: the swapped frames give A the 0.8 proposal.
    expected = [0.8, 0.9] if t % 2 else [0.9, 0.8]
    np.testing.assert_allclose([res.scores[1], res.scores[2]], expected, rtol=1e-5)
    assert set(np.unique(res.ids)) == {0, 1, 2}
    # Every id pixel is a car pixel.
    assert (res.semantic[res.ids > 0] == CAR_TRAIN_ID).all()
  # A new sequence starts from scratch: fresh ids in score order, and on this
  # (swapped) frame B holds the higher-scored proposal.
  again = next(iter(pred.predict_sequence(frames[1:])))
  assert (again.ids[24, 36], again.ids[24, 140]) == (2, 1)
  # One compilation for the first frame (no previous kernels), one for the rest.
  assert pred.model.traces == 2


def test_eval_frame_dicts_give_the_same_result(fake_predictors):
  pred = fake_predictors["embedding"]
  frames = [_frame(8 + 8 * t, 128 - 8 * t, swap=t % 2 == 1) for t in range(3)]
  dicts = []
  for t, frame in enumerate(frames):
    image, hw = pred.preprocess(frame)
    canvas = np.zeros((96, 224, 3), np.float32)   # a larger eval canvas: cropped, padded again.
    canvas[:64, :192] = image[0]
    dicts.append({common.IMAGE: canvas, common.ORIGINAL_SIZE: hw,
                  common.FRAME_INDEX: 10 + t})
  for raw, ev in zip(pred.predict_sequence(frames), pred.predict_eval_sequence(dicts)):
    np.testing.assert_array_equal(raw.panoptic, ev.panoptic)
    assert ev.frame_index == raw.frame_index + 10


def test_step_threads_kernels_and_pads(fake_predictors):
  config = _config()
  pred = fake_predictors["embedding"]
  image, hw = pred.preprocess(_frame(8, 128, False))
  assert image.shape == (1, 64, 192, 3) and hw == (60, 180)
  np.testing.assert_array_equal(image[0, 60:], 0.0)
  state = pred.init_tracker_state((64, 192))
  kernels = None
  for t in range(3):
    semantic, ids, kernels, state = pred.step(image, hw, kernels, state, t)
    assert semantic.shape == (64, 192)
    assert (np.asarray(semantic)[60:] == 255).all() and (np.asarray(ids)[:, 180:] == 0).all()
  np.testing.assert_array_equal(np.asarray(kernels), 2.0)
  with pytest.raises(ValueError, match="association"):
    pr.VideoPredictor(_FakeModel(config), {}, config, association="iou")


def test_each_video_pads_to_its_own_multiple_of_32():
  config = _config()
  pred = pr.VideoPredictor(_FakeModel(config), {}, config)
  assert pred.preprocess(_frame(8, 128, False, hw=(60, 180)))[0].shape == (1, 64, 192, 3)
  small = [_frame(8, 40, False, hw=(30, 100))] * 2
  image, hw = pred.preprocess(small[0])
  assert image.shape == (1, 32, 128, 3) and hw == (30, 100)
  results = list(pred.predict_sequence(small))
  assert results[1].semantic.shape == (30, 100)
  assert pred.model.traces == 2       # first frame + later frames, at this size.
  list(pred.predict_sequence([_frame(8, 128, False)] * 2))
  assert pred.model.traces == 4       # one more pair of compilations per new size.
  list(pred.predict_sequence(small))
  assert pred.model.traces == 4       # cached.
  config.inference.fixed_canvas = True
  fixed = pr.VideoPredictor(_FakeModel(config), {}, config)
  assert fixed.preprocess(small[0])[0].shape == (1, 64, 192, 3)   # data.eval_size.


class _ImageKNet(_FakeModel):
  """The fake model as an image K-Net: like VideoKNet with
  temporal.enabled=False, it refuses previous kernels."""

  def apply(self, variables, images, previous_kernels=None, train=False):
    if previous_kernels is not None:
      raise ValueError("previous_kernels given to an image K-Net")
    return super().apply(variables, images, None, train)


def test_image_knet_runs_every_frame_on_its_own():
  config = _config()
  config.model.temporal.enabled = False
  pred = pr.VideoPredictor(_ImageKNet(config), {}, config, association="mask_iou")
  frames = [_frame(8 + 8 * t, 128 - 8 * t, swap=False) for t in range(3)]
  results = list(pred.predict_sequence(frames))
  assert [r.ids[24, 28 + 8 * t] for t, r in enumerate(results)] == [1, 1, 1]  # mask IoU.
  assert pred.model.traces == 1       # no previous kernels: one compilation.


def test_panoptic_label_refuses_colliding_ids():
  np.testing.assert_array_equal(pr.panoptic_label(np.array([13, 255]), np.array([7, 0])),
                                [13007, 255000])
  with pytest.raises(ValueError, match="label_divisor"):
    pr.panoptic_label(np.array([13]), np.array([1000]))


def test_real_debug_model_step_traces_with_the_expected_shapes():
  """The real model wired in: abstract evaluation only (no compile, seconds)."""
  from video_knet_jax.models import video_knet  # pylint: disable=g-import-not-at-top
  config = kitti_step.get_config("debug")
  model = video_knet.build_model(config)
  image = jax.ShapeDtypeStruct((1, 64, 192, 3), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), image)
  for association in pr.ASSOCIATIONS:
    pred = pr.VideoPredictor(model, variables, config, association=association)
    state = pred.init_tracker_state((64, 192))
    hw = jnp.array([60, 190], jnp.int32)
    first = jax.eval_shape(pred._frame_fn, variables, image, hw, None, state, 0)
    semantic, ids, kernels, new_state, (segment_ids, segment_scores) = first
    assert segment_ids.shape == segment_scores.shape and segment_ids.dtype == jnp.int32
    assert semantic.shape == ids.shape == (64, 192)
    assert semantic.dtype == ids.dtype == jnp.int32
    n = config.model.num_proposals + config.model.num_stuff_classes
    assert kernels.shape == (1, n, config.model.feat_channels)
    assert jax.tree.map(lambda x: x.shape, new_state) == jax.tree.map(lambda x: x.shape, state)
    later = jax.eval_shape(pred._frame_fn, variables, image, hw, kernels, new_state, 1)
    assert later[2].shape == kernels.shape
