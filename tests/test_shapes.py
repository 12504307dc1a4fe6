"""Shared static shapes: the round-up that training, data and inference use."""
from video_knet_jax import shapes


def test_round_up_pads_to_the_divisor():
  assert shapes.round_up((128, 375), 32) == (128, 384)
  assert shapes.round_up([1, 32, 33], 32) == (32, 32, 64)
  assert shapes.round_up((64, 192), 1) == (64, 192)
