"""The tracker's three match metrics (the original's `match_metric`), by hand."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from video_knet_jax.configs import kitti_step
from video_knet_jax.inference import tracker as tr

DETS = jnp.asarray([[1.0, 0.0], [0.0, 2.0]])
MEMORY = jnp.asarray([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
ALL = jnp.ones((2, 3), bool)
E = np.e
ROWS = np.asarray([np.asarray([E**2, 1, E]) / (E**2 + 1 + E),
                   np.asarray([1, E**2, E**2]) / (1 + 2 * E**2)])


def _scores(metric, ok=ALL):
  return np.asarray(tr.match_score_matrix(DETS, MEMORY, ok, metric))


def test_softmax_over_the_memory():
  # Dot products [[2, 0, 1], [0, 2, 2]], softmax along each row.
  np.testing.assert_allclose(_scores("softmax"), ROWS, rtol=1e-6)


def test_bisoftmax_averages_both_directions():
  cols = np.asarray([[E**2 / (E**2 + 1), 1 / (1 + E**2), E / (E + E**2)],
                     [1 / (E**2 + 1), E**2 / (1 + E**2), E**2 / (E + E**2)]])
  np.testing.assert_allclose(_scores("bisoftmax"), (ROWS + cols) / 2, rtol=1e-6)


def test_cosine_ignores_the_norms():
  r = 1 / np.sqrt(2)
  np.testing.assert_allclose(_scores("cosine"), [[1, 0, r], [0, 1, r]], rtol=1e-6, atol=1e-7)


def test_pairs_outside_the_mask_take_no_part():
  ok = jnp.asarray([[True, True, False], [True, True, True]])
  np.testing.assert_allclose(_scores("softmax", ok)[0], [E**2 / (E**2 + 1), 1 / (E**2 + 1), 0],
                             rtol=1e-6)
  assert _scores("cosine", ok)[0, 2] == 0


@pytest.mark.parametrize("metric, second_id", [("bisoftmax", 1), ("softmax", 1), ("cosine", 2)])
def test_metric_decides_a_match(metric, second_id):
  # Frame 1's detection points 79 degrees away from the tracklet: alone in the
  # memory it scores 1 with either softmax, but its cosine 0.196 < 0.5.
  settings = tr.TrackerSettings(match_metric=metric)
  state = tr.init_tracker_state(settings, 1, 2)
  box, label, valid = jnp.asarray([[0, 0, 10, 10]], jnp.float32), jnp.zeros(1, jnp.int32), \
      jnp.ones(1, bool)
  score = jnp.asarray([0.9])
  step = jax.jit(tr.tracker_step)
  state, ids = step(state, jnp.asarray([[5.0, 0.0]]), label, score, box, valid, 0)
  assert np.asarray(ids).tolist() == [1]
  _, ids = step(state, jnp.asarray([[1.0, 5.0]]), label, score, box, valid, 1)
  assert np.asarray(ids).tolist() == [second_id]


def test_unknown_metric_is_an_error():
  config = kitti_step.get_config()
  config.tracker.match_metric = "l2"
  with pytest.raises(ValueError, match="config.tracker.match_metric='l2'"):
    tr.tracker_settings_from_config(config)
