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

from video_knet_jax.data import input_pipeline

# (process_index, process_count, start_step) -> sha256 of 3 batches of 4 clips.
GOLDEN = {
    (0, 1, 0): "89b493e27748aebb2a6a64850436b9af9798208efb4063c68546dd5b9b9e704c",
    (0, 1, 7): "91404e9fc4b7fc121d714daf5cf220e3dd7897910d97e7e9a2d94920bedb68f1",
    (1, 2, 0): "0d5b57591c98096da3ab5b15b120e0f4954a6010ca3c095375b48712c298a8da",
}


def batch_digest(batches) -> str:
  h = hashlib.sha256()
  for batch in batches:
    for key in sorted(batch):
      value = np.ascontiguousarray(batch[key])
      h.update(f"{key}:{value.dtype}:{value.shape}".encode())
      h.update(value.tobytes())
  return h.hexdigest()


def digest(config, process_index, process_count, start_step):
  ds = input_pipeline.make_train_dataset(
      config, batch_size=4, start_step=start_step,
      process_index=process_index, process_count=process_count)
  return batch_digest(itertools.islice(ds.as_numpy_iterator(), 3))


@pytest.mark.parametrize("key", sorted(GOLDEN))
def test_training_clips_match_the_in_memory_reader(tiny_config, key):
  assert digest(tiny_config, *key) == GOLDEN[key]
