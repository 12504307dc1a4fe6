"""The train iterator issues the next batch's transfer before yielding one."""
import numpy as np

from video_knet_jax import common
from video_knet_jax import sharding
from video_knet_jax.data import panoptic_clips


def _count_puts(monkeypatch):
  calls = []
  put_batch = sharding.put_batch

  def counting_put(batch, mesh):
    calls.append(batch)
    return put_batch(batch, mesh)

  monkeypatch.setattr(panoptic_clips.sharding, "put_batch", counting_put)
  return calls


def test_next_batch_is_on_its_way_before_the_step(tiny_config, monkeypatch):
  mesh = sharding.make_mesh()
  config = tiny_config.copy_and_resolve_references()
  calls = _count_puts(monkeypatch)
  config.data.device_prefetch = 0
  plain = panoptic_clips.make_train_iterator(config, mesh)
  first_plain = np.asarray(next(plain)[common.IMAGE])
  assert len(calls) == 1
  calls.clear()
  config.data.device_prefetch = 1
  ahead = panoptic_clips.make_train_iterator(config, mesh)
  first_ahead = np.asarray(next(ahead)[common.IMAGE])
  assert len(calls) == 2          # batch 0 handed out, batch 1 in flight.
  np.testing.assert_array_equal(first_ahead, first_plain)   # same order.
  next(ahead)
  assert len(calls) == 3
