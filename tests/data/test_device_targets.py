"""On-device targets equal the host-built (TensorFlow) ones."""
import itertools

import jax
import numpy as np
import pytest
import tensorflow as tf

from tests.data.conftest import load_config
from video_knet_jax import common
from video_knet_jax import optim
from video_knet_jax import sharding
from video_knet_jax import train
from video_knet_jax.data import device_targets
from video_knet_jax.data import panoptic_clips
from video_knet_jax.data import targets
from video_knet_jax.models import video_knet

THINGS = (11, 13)


def _params(max_instances, crowd_as_instance):
  return targets.TargetParams(
      num_classes=19, thing_train_ids=THINGS, ignore_label=255,
      max_instances=max_instances, panoptic_divisor=1000,
      crowd_as_instance=crowd_as_instance)


def _random_label(seed, h=24, w=40, num_boxes=14):
  """Stuff, void, crowd and many overlapping thing boxes (equal areas too)."""
  rng = np.random.default_rng(seed)
  sem = rng.choice([0, 1, 2, 8, 10, 255], size=(h, w)).astype(np.int32)
  ins = np.zeros((h, w), np.int32)
  for i in range(num_boxes):
    bh, bw = (3, 4) if i % 3 == 0 else rng.integers(1, 8, size=2)  # ties.
    y, x = rng.integers(0, h - bh), rng.integers(0, w - bw)
    sem[y:y + bh, x:x + bw] = THINGS[i % 2]
    ins[y:y + bh, x:x + bw] = 0 if i == 5 else 1 + i // 2    # i == 5: crowd.
  return sem, ins


@pytest.mark.parametrize("by_histogram", [False, True])
@pytest.mark.parametrize("max_instances,crowd_as_instance",
                         [(4, False), (6, True), (32, False)])
def test_device_targets_equal_host_targets(max_instances, crowd_as_instance, by_histogram):
  params = _params(max_instances, crowd_as_instance)
  labels = [_random_label(seed) for seed in range(6)]
  build = jax.jit(jax.vmap(lambda s, i: device_targets.frame_targets(
      s, i, params, by_histogram)))
  device = jax.device_get(build(np.stack([s for s, _ in labels]),
                                np.stack([i for _, i in labels])))
  kept_fewer = 0
  for f, (sem, ins) in enumerate(labels):
    host = {k: v.numpy() for k, v in targets.frame_targets(
        tf.constant(sem), tf.constant(ins), params).items()}
    assert set(device) == set(host)
    for key, value in host.items():
      assert device[key][f].dtype == value.dtype, key
      np.testing.assert_array_equal(device[key][f], value, err_msg=key)
    kept_fewer += int(host[common.THING_VALID].all())
  if max_instances < 8:   # the clips have more things than that: top-k ran.
    assert kept_fewer == len(labels)


@pytest.mark.parametrize("largest_instance_id", [999, 1000, 70000])
def test_complete_batch_equals_host_targets_for_any_instance_ids(largest_instance_id):
  """Thing ids beyond the histogram's range (instance id >= the divisor, in
  the largest thing class) send the batch down the sorting path: the host's
  targets either way."""
  params = _params(6, False)
  labels = [_random_label(seed) for seed in range(4)]
  sem, ins = labels[1]
  sem[:3, :5], ins[:3, :5] = THINGS[-1], largest_instance_id
  batch = {common.SEMANTIC: np.stack([s for s, _ in labels]).reshape(2, 2, *sem.shape),
           common.INSTANCE: np.stack([i for _, i in labels]).reshape(2, 2, *sem.shape)}
  built = jax.device_get(jax.jit(lambda b: device_targets.complete_batch(b, params))(batch))
  for f, (sem, ins) in enumerate(labels):
    host = targets.frame_targets(tf.constant(sem), tf.constant(ins), params)
    for key, value in host.items():
      np.testing.assert_array_equal(built[key][f // 2, f % 2], value.numpy(),
                                    err_msg=f"{key} frame {f}")


@pytest.fixture(scope="module")
def compact_config(tiny_config):
  config = load_config("synthetic_step", "debug")
  config.data = tiny_config.data.copy_and_resolve_references()
  config.train.batch_size = tiny_config.train.batch_size
  config.data.targets_on_device = True
  return config


def test_pipeline_compact_labels_give_the_host_targets(tiny_config,
                                                       compact_config):
  mesh = sharding.make_mesh()
  take = lambda config: jax.device_get(next(
      panoptic_clips.make_train_iterator(config, mesh)))
  host, compact = take(tiny_config), take(compact_config)
  assert common.THING_MASKS not in compact
  assert compact[common.INSTANCE].dtype == np.int32
  params = device_targets.target_params(compact_config)
  built = jax.device_get(jax.jit(
      lambda b: device_targets.complete_batch(b, params))(compact))
  assert set(built) == set(host)
  assert host[common.THING_VALID].any()
  for key, value in host.items():
    assert built[key].dtype == value.dtype, key
    np.testing.assert_array_equal(built[key], value, err_msg=key)


def test_train_step_accepts_compact_labels(compact_config):
  config = compact_config.copy_and_resolve_references()
  config.model.num_stages = 1        # cheaper to trace; same wiring.
  config.loss.stage_weights = (1.0,)
  h, w = config.data.crop_size
  model = video_knet.build_model(config)
  variables = jax.eval_shape(
      lambda r: train.init_variables(model, config, r), jax.random.key(0))
  tx = optim.make_optimizer(config, variables["params"],
                            train.frozen_filter(config))
  state = train.TrainState(
      step=jax.ShapeDtypeStruct((), np.int32), params=variables["params"],
      batch_stats=variables["batch_stats"],
      opt_state=jax.eval_shape(tx.init, variables["params"]))
  b, t = 2, 1 + config.data.num_refs
  batch = {
      common.IMAGE: jax.ShapeDtypeStruct((b, t, h, w, 3), np.float32),
      common.PADDING_MASK: jax.ShapeDtypeStruct((b, t, h, w), bool),
      common.SEMANTIC: jax.ShapeDtypeStruct((b, t, h, w), np.int32),
      common.INSTANCE: jax.ShapeDtypeStruct((b, t, h, w), np.int32),
      common.SEQUENCE_ID: jax.ShapeDtypeStruct((b,), np.int32),
      common.FRAME_INDEX: jax.ShapeDtypeStruct((b, t), np.int32),
  }
  step = train.make_train_step(config, model, tx)
  _, measurements = jax.eval_shape(step, state, batch)
  assert measurements[common.LOSS_TOTAL].shape == ()
  with pytest.raises(KeyError, match="compact"):
    device_targets.complete_batch(
        {k: v for k, v in batch.items() if k != common.INSTANCE},
        device_targets.target_params(config))
