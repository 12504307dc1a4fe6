"""Clip sampling: counter-based, resumable, references redrawn every epoch."""
import collections

import numpy as np
import pytest

from video_knet_jax.data import clip_sampling

# Two sequences of 6 frames. Sequence 1, frame 3 has no thing; frame 5 of
# sequence 1 only has an object that no neighbour shows.
SEQ = np.array([0] * 6 + [1] * 6)
FRAME = np.array(list(range(6)) * 2)
THINGS = [np.array([11001])] * 6 + [
    np.array([13002]), np.array([13002]), np.array([13002]),
    np.array([], np.int32), np.array([13002]), np.array([11009])]


def _sampler(**kw):
  args = dict(ref_offsets=(-2, -1, 1, 2), num_refs=1,
              require_shared_thing=True, seed=0)
  args.update(kw)
  return clip_sampling.ClipSampler(SEQ, FRAME, THINGS, **args)


def test_clips_are_a_function_of_their_index():
  a, b = _sampler(), _sampler()
  stream = [a.clip(n) for n in range(40)]
  for n in (37, 3, 25, 0):   # any order, no replay.
    np.testing.assert_array_equal(b.clip(n).rows, stream[n].rows)
    np.testing.assert_array_equal(b.clip(n).aug_seed, stream[n].aug_seed)
  c = _sampler(seed=1)
  assert any(not np.array_equal(c.clip(n).rows, stream[n].rows)
             for n in range(10))


def test_references_follow_the_offset_rule():
  s = _sampler()
  # Key 1/3 has no thing; key 1/5 shares nothing with 1/3, 1/4; 1/4's only
  # same-id neighbours are 1/2 (offset -2).
  assert len(s) == 10
  for n in range(200):
    key, ref = s.clip(n).rows
    assert SEQ[key] == SEQ[ref]
    assert FRAME[ref] - FRAME[key] in (-2, -1, 1, 2)
    assert set(THINGS[key]) & set(THINGS[ref])
    if (SEQ[key], FRAME[key]) == (1, 4):
      assert FRAME[ref] == 2


def test_each_epoch_visits_every_key_once_and_redraws_offsets():
  s = _sampler()
  offsets = collections.defaultdict(set)
  for epoch in range(8):
    keys = [s.clip(epoch * len(s) + i).rows for i in range(len(s))]
    assert sorted(int(k[0]) for k in keys) == sorted(s.keys.tolist())
    for key, ref in keys:
      offsets[int(key)].add(int(FRAME[ref] - FRAME[key]))
  # Frame 0/2 has four valid offsets; over 8 epochs it must not stick to one.
  assert len(offsets[2]) > 1


def test_without_thing_filter_all_frames_with_a_neighbour_are_keys():
  s = _sampler(require_shared_thing=False)
  assert len(s) == 12


def test_several_references_and_errors():
  s = _sampler(num_refs=2)
  rows = s.clip(5).rows
  assert rows.shape == (3,)
  with pytest.raises(ValueError, match="ref_offsets"):
    _sampler(ref_offsets=(0, 1))
  with pytest.raises(ValueError, match="No frame can serve"):
    clip_sampling.ClipSampler(SEQ, FRAME, [np.array([], np.int32)] * 12,
                              ref_offsets=(1,), num_refs=1,
                              require_shared_thing=True, seed=0)


def test_hosts_take_disjoint_slices_of_the_global_batches():
  # 3 hosts x 2 clips: global batch of 6; host 1's clips 0..5 are 2, 3, 8, 9,
  # 14, 15 (rows 2-3 of global batches 0, 1, 2).
  local = np.arange(6)
  per_host = [clip_sampling.global_clip_index(
      local, local_batch=2, process_index=p, process_count=3) for p in range(3)]
  np.testing.assert_array_equal(per_host[1], [2, 3, 8, 9, 14, 15])
  np.testing.assert_array_equal(np.sort(np.concatenate(per_host)),
                                np.arange(18))
  for step in range(3):   # host order within each global batch.
    np.testing.assert_array_equal(
        np.concatenate([h[2 * step:2 * step + 2] for h in per_host]),
        np.arange(6 * step, 6 * step + 6))
  assert clip_sampling.global_clip_index(
      5, local_batch=4, process_index=0, process_count=1) == 5
  with pytest.raises(ValueError, match="process_index=2"):
    clip_sampling.global_clip_index(0, local_batch=2, process_index=2,
                                    process_count=2)
