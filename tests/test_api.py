"""The Python API: predict_frame with an explicit state equals predict_video."""
import numpy as np
import pytest
from PIL import Image

from tests.inference import test_predictor as fake
from video_knet_jax import api


@pytest.fixture(scope="module")
def model():
  config = fake._config()
  return api.VideoModel(config, {}, model=fake._FakeModel(config))


def test_predict_frame_threads_an_explicit_state(model, tmp_path):
  frames = [fake._frame(8 + 8 * t, 128 - 8 * t, swap=t % 2 == 1) for t in range(4)]
  for t, frame in enumerate(frames):
    Image.fromarray(frame).save(tmp_path / f"{t:02d}.png")
  streamed = list(model.predict_video(str(tmp_path)))
  assert [f.index for f in streamed] == [0, 1, 2, 3]

  state = model.initial_state()
  states = [state]
  for t, frame in enumerate(frames):
    result, state = model.predict_frame(frame, state)
    states.append(state)
    np.testing.assert_array_equal(result.panoptic, streamed[t].panoptic)
    assert result.scores == pytest.approx(streamed[t].scores)
    assert result.panoptic[24, 28 + 8 * t] == 13 * 2**16 + 1     # car A keeps id 1.
  assert state.frame_index == 4 and state.padded_hw == (64, 192)
  # States are values: replaying frame 2 from the state after frame 1 gives frame 2 again,
  # and the later states are untouched.
  again, _ = model.predict_frame(frames[2], states[2])
  np.testing.assert_array_equal(again.panoptic, streamed[2].panoptic)
  assert states[3].frame_index == 3
  # A new video starts from initial_state: on the swapped frame B is found first.
  first, _ = model.predict_frame(frames[1], model.initial_state())
  assert (first.ids[24, 36], first.ids[24, 140]) == (2, 1)
  with pytest.raises(ValueError, match="share a size"):
    model.predict_frame(np.zeros((100, 100, 3), np.uint8), state)


def test_load_config_and_class_names():
  config = api.load_config("configs/kitti_step.py:debug")
  assert config.model.num_proposals == 8
  assert api.class_names(config)[13] == "car" and len(api.class_names(config)) == 19
  config.data.num_classes = 3
  assert api.class_names(config) == ("class 0", "class 1", "class 2")
  with pytest.raises(FileNotFoundError, match="nope.py"):
    api.load_config("configs/nope.py")


def test_test_scale_resizes_keeping_the_ratio(model):
  model.test_scale = (32, 96)
  try:
    assert model.prepare(np.zeros((60, 180, 3), np.uint8)).shape == (32, 96, 3)
    assert model.prepare(np.zeros((180, 60, 3), np.uint8)).shape == (96, 32, 3)
  finally:
    model.test_scale = ()
  with pytest.raises(ValueError, match="uint8"):
    model.prepare(np.zeros((60, 180, 3), np.float32))
