"""The training clips are the same as before frames were streamed from disk.

The digests below were computed by the previous implementation (the whole
host share held in memory as encoded PNGs, data/frame_store.py at commit
0cec530) on the tiny synthetic set of tests/data/conftest.py; they are an
independent reference for the streaming reader that replaced it. They cover
every key of every batch, so any change of frame choice, decoding, augmentation
or targets shows. A TensorFlow upgrade that changes image resampling would
change them too: recompute them with that commit's code, not with the new one.
"""
import hashlib
import itertools

import numpy as np
import pytest

from video_knet_jax.data import panoptic_clips

# (process_index, process_count, start_step) -> sha256 of 3 batches of 4 clips.
# (Host 1 of 2 no longer has a stream of its own: see the test at the end.)
GOLDEN = {
    (0, 1, 0): "89b493e27748aebb2a6a64850436b9af9798208efb4063c68546dd5b9b9e704c",
    (0, 1, 7): "91404e9fc4b7fc121d714daf5cf220e3dd7897910d97e7e9a2d94920bedb68f1",
}


def batch_digest(batches) -> str:
  h = hashlib.sha256()
  for batch in batches:
    for key in sorted(batch):
      value = np.ascontiguousarray(batch[key])
      h.update(f"{key}:{value.dtype}:{value.shape}".encode())
      h.update(value.tobytes())
  return h.hexdigest()


def host_batches(config, process_index, process_count, start_step):
  """3 batches of one host's 4 / process_count clips."""
  ds = panoptic_clips.make_train_dataset(
      config, batch_size=4 // process_count, start_step=start_step,
      process_index=process_index, process_count=process_count)
  return list(itertools.islice(ds.as_numpy_iterator(), 3))


def digest(config, process_index, process_count, start_step):
  return batch_digest(host_batches(config, process_index, process_count,
                                   start_step))


@pytest.mark.parametrize("key", sorted(GOLDEN))
def test_training_clips_match_the_in_memory_reader(tiny_config, key):
  assert digest(tiny_config, *key) == GOLDEN[key]


@pytest.mark.parametrize("start_step", [0, 7])
def test_two_hosts_together_read_the_one_host_clips(tiny_config, start_step):
  """Host p of 2 reads rows [2p, 2p + 2) of each 1-host batch of 4."""
  hosts = [host_batches(tiny_config, p, 2, start_step) for p in range(2)]
  joined = [{key: np.concatenate([hosts[0][i][key], hosts[1][i][key]])
             for key in hosts[0][i]} for i in range(3)]
  assert batch_digest(joined) == GOLDEN[(0, 1, start_step)]
