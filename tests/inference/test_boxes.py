"""boxes.semantic_thing_filter: where the first argmax of the class probabilities is a thing."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from video_knet_jax.inference import boxes


def _argmax_reference(seg_logits, padded_hw, num_things):
  c = seg_logits.shape[0]
  up = jax.image.resize(seg_logits, (c, *padded_hw), "bilinear", antialias=False)
  return np.asarray(jnp.argmax(jax.nn.sigmoid(up), axis=0) < num_things)


@pytest.mark.parametrize("num_things", [0, 2, 5, 7])
def test_filter_is_the_first_argmax_being_a_thing_class(num_things):
  rng = np.random.default_rng(3)
  logits = rng.normal(size=(7, 6, 10)).astype(np.float32)
  logits[:, :2] = 40.0                       # saturated: every class ties at 1.0.
  logits[4, 3:] = logits[1, 3:]              # a thing and a stuff class tie exactly.
  logits = jnp.asarray(logits)
  got = np.asarray(boxes.semantic_thing_filter(logits, (24, 40), num_things))
  want = _argmax_reference(logits, (24, 40), num_things)
  np.testing.assert_array_equal(got, want)
  if 0 < num_things < 7:
    assert got.any() and not got.all()       # the case decides per pixel.
