"""End to end on a tiny generated set: batches, determinism, resume, eval."""
import itertools

import jax
import numpy as np
import pytest

from video_knet_jax.datasets.synthetic_step import generate
from video_knet_jax.datasets.synthetic_step import spec as spec_lib
from video_knet_jax import common
from video_knet_jax import sharding
from video_knet_jax.data import panoptic_clips
from video_knet_jax.data import prepare

STUFF_IDS = [c for c in range(19) if c not in (11, 13)]


def _take(it, n):
  return [jax.tree.map(np.asarray, b) for b in itertools.islice(it, n)]


@pytest.fixture(scope="module")
def mesh():
  return sharding.make_mesh()


@pytest.fixture(scope="module")
def batches(tiny_config, mesh):
  return _take(panoptic_clips.make_train_iterator(tiny_config, mesh), 3)


def test_batch_keys_shapes_and_sharding(tiny_config, mesh):
  batch = next(panoptic_clips.make_train_iterator(tiny_config, mesh))
  b, t, m, s, h, w = 8, 2, 8, 17, 64, 192
  expected = {
      common.IMAGE: ((b, t, h, w, 3), np.float32),
      common.PADDING_MASK: ((b, t, h, w), np.bool_),
      common.SEMANTIC: ((b, t, h, w), np.int32),
      common.THING_MASKS: ((b, t, m, h, w), np.uint8),
      common.THING_CLASSES: ((b, t, m), np.int32),
      common.THING_IDS: ((b, t, m), np.int32),
      common.THING_VALID: ((b, t, m), np.bool_),
      common.STUFF_MASKS: ((b, t, s, h, w), np.uint8),
      common.STUFF_VALID: ((b, t, s), np.bool_),
      common.VOID_MASK: ((b, t, h, w), np.bool_),
      common.SEQUENCE_ID: ((b,), np.int32),
      common.FRAME_INDEX: ((b, t), np.int32),
  }
  assert set(batch) == set(expected)
  for key, (shape, dtype) in expected.items():
    assert isinstance(batch[key], jax.Array), key
    assert batch[key].shape == shape and batch[key].dtype == dtype, key
    assert batch[key].sharding.spec[0] == sharding.DATA_AXIS, key
    assert len(batch[key].addressable_shards) == 8


def test_targets_are_consistent_with_the_semantic_map(batches):
  for batch in batches:
    sem = batch[common.SEMANTIC]
    np.testing.assert_array_equal(batch[common.VOID_MASK], sem == 255)
    assert (batch[common.VOID_MASK] | ~batch[common.PADDING_MASK]).all()
    assert (batch[common.IMAGE][batch[common.PADDING_MASK]] == 0).all()
    for i, c in enumerate(STUFF_IDS):
      np.testing.assert_array_equal(batch[common.STUFF_MASKS][:, :, i],
                                    sem == c)
    masks = batch[common.THING_MASKS].astype(bool)
    assert masks.sum(axis=2).max() <= 1     # instances do not overlap.
    for bi in range(8):
      offset = np.diff(batch[common.FRAME_INDEX][bi])[0]
      assert offset in (-2, -1, 1, 2)
      ids = []
      for ti in range(2):
        valid = batch[common.THING_VALID][bi, ti]
        frame_ids = batch[common.THING_IDS][bi, ti][valid]
        ids.append(set(frame_ids.tolist()))
        for mi in np.nonzero(valid)[0]:
          pid = batch[common.THING_IDS][bi, ti, mi]
          cls = (11, 13)[batch[common.THING_CLASSES][bi, ti, mi]]
          assert pid // 1000 == cls
          assert masks[bi, ti, mi].any()
          assert (sem[bi, ti][masks[bi, ti, mi]] == cls).all()
      assert ids[0] & ids[1]   # require_shared_thing: a shared track id.


def test_deterministic_and_resumable(tiny_config, mesh, batches):
  again = _take(panoptic_clips.make_train_iterator(tiny_config, mesh), 3)
  resumed = _take(panoptic_clips.make_train_iterator(
      tiny_config, mesh, start_step=2), 1)
  for key in batches[0]:
    for a, b in zip(batches, again):
      np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(resumed[0][key], batches[2][key])
  other = tiny_config.copy_and_resolve_references()
  other.seed = 1
  moved = _take(panoptic_clips.make_train_iterator(other, mesh), 1)
  assert not np.array_equal(moved[0][common.IMAGE], batches[0][common.IMAGE])


def test_hosts_read_slices_of_the_one_host_batches(tiny_config):
  """The 2 hosts' batches hold different clips (global clip numbers) and,
  concatenated in host order, are the batch one host reads."""
  one = panoptic_clips.make_train_dataset(tiny_config, batch_size=8)
  hosts = [panoptic_clips.make_train_dataset(
      tiny_config, batch_size=4, process_index=p, process_count=2)
           for p in range(2)]
  for step, (whole, *parts) in enumerate(itertools.islice(
      zip(*(ds.as_numpy_iterator() for ds in [one] + hosts)), 2)):
    if step == 0:   # one epoch (> 8 key frames): no key frame twice.
      keys = [{(int(s), int(f[0])) for s, f in zip(
          part[common.SEQUENCE_ID], part[common.FRAME_INDEX])} for part in parts]
      assert len(keys[0]) == len(keys[1]) == 4 and not keys[0] & keys[1]
    for key in whole:
      np.testing.assert_array_equal(
          np.concatenate([parts[0][key], parts[1][key]]), whole[key], key)
  with pytest.raises(ValueError, match="divisible by the 3 processes"):
    next(panoptic_clips.make_train_iterator(
        tiny_config, sharding.make_mesh(), process_index=0, process_count=3))


def test_eval_sequences_in_order_with_ground_truth(tiny_config):
  spec = spec_lib.SyntheticSpec.from_dict(tiny_config.data.synthetic)
  sequences = [(seq, list(frames)) for seq, frames
               in panoptic_clips.iterate_eval_sequences(tiny_config, "val")]
  assert [seq for seq, _ in sequences] == [spec.first_val_sequence]
  frames = sequences[0][1]
  images, semantic, instance = generate.render_sequence(spec, spec.first_val_sequence)
  mean, std = np.asarray(tiny_config.data.mean), np.asarray(tiny_config.data.std)
  assert [f[common.FRAME_INDEX] for f in frames] == list(range(6))
  for t, f in enumerate(frames):
    assert f[common.IMAGE].shape == (64, 192, 3)
    assert f[common.ORIGINAL_SIZE] == (64, 192)
    assert not f[common.PADDING_MASK].any()
    np.testing.assert_allclose(f[common.IMAGE] * std + mean, images[t],
                               atol=1e-3)
    np.testing.assert_array_equal(
        f[common.PANOPTIC], semantic[t].astype(np.int32) * 1000 + instance[t])


def test_eval_frames_read_too_late_raise(tiny_config):
  config = tiny_config.copy_and_resolve_references()
  config.data.eval_split = "train"
  sequences = list(panoptic_clips.iterate_eval_sequences(config))
  assert [seq for seq, _ in sequences] == [0, 1]
  for seq, frames in sequences:   # never a silently empty sequence.
    with pytest.raises(RuntimeError, match=f"sequence {seq}"):
      next(frames)


def test_eval_canvas_pads_and_rejects_large_frames(tiny_config):
  config = tiny_config.copy_and_resolve_references()
  config.data.eval_size = (70, 200)      # padded to (96, 224).
  seq, frames = next(panoptic_clips.iterate_eval_sequences(config, "val"))
  f = next(frames)
  assert f[common.IMAGE].shape == (96, 224, 3)
  assert f[common.PADDING_MASK][64:].all() and f[common.PADDING_MASK][:, 192:].all()
  assert not f[common.PADDING_MASK][:64, :192].any()
  assert (f[common.IMAGE][64:] == 0).all()
  config.data.eval_size = (32, 192)
  with pytest.raises(ValueError, match="config.data.eval_size"):
    next(next(panoptic_clips.iterate_eval_sequences(config, "val"))[1])


def test_prepare_builds_once_in_the_configured_dir(tiny_config):
  builder = prepare.ensure_dataset(tiny_config)
  assert builder.is_prepared()
  assert str(builder.data_dir).startswith(tiny_config.data.data_dir)
  raw = prepare.data_dir_root(tiny_config) / "downloads" / "manual"
  assert len(list(raw.iterdir())) == 1
  config = tiny_config.copy_and_resolve_references()
  config.data.name = "cityscapes"
  with pytest.raises(ValueError, match="config.data.name"):
    prepare.ensure_dataset(config)
