"""The clip pipeline core every task's training data goes through.

A task's plug-in (panoptic: `panoptic_clips`, semantic: `semantic_clips`,
instance: `vis_clips`) turns a global clip number n into one clip's dict of
tensors: which frames, their labels, targets and augmentation, all a
function of (config.seed, n). This module does the rest, once for every task:

  * host slicing: one global clip stream per run; step s's global batch is
    clips s * B .. s * B + B - 1 and host p of P takes its contiguous slice of
    b = B / P clips (`clip_sampling.global_clip_index`), so P hosts train on
    exactly the batches one host would, and `start_step` resumes exactly;
  * tf.data: a parallel, deterministic map, batching and host prefetch, with
    the options below (no autotuning: see `_OPTIONS`);
  * device prefetch: the next batches' transfers are issued before the
    current one is handed to the train step.
"""
import collections
from typing import Any, Callable, Iterable, Iterator

import jax
import numpy as np
import tensorflow as tf

from video_knet_jax import sharding


def _global_clip_index(k: tf.Tensor, local_batch: int, process_index: int,
                       process_count: int) -> tf.Tensor:
  """`clip_sampling.global_clip_index` in the graph (int64)."""
  step, within = k // local_batch, k % local_batch
  return (step * (local_batch * process_count) + process_index * local_batch
          + within)


def _options() -> tf.data.Options:
  options = tf.data.Options()
  options.deterministic = True
  options.threading.max_intra_op_parallelism = 1   # leave cores to XLA.
  # No autotuning (AUTOTUNE then means one call per core): the iterator's
  # destructor waits for the autotuner's thread, which sleeps up to 60 s
  # between optimisations, so train.py used to hang 4-63 s after its last step.
  options.autotune.enabled = False
  return options


def train_dataset(make_clip: Callable[[tf.Tensor], dict[str, tf.Tensor]], *,
                  batch_size: int, start_step: int = 0, process_index: int = 0,
                  process_count: int = 1) -> tf.data.Dataset:
  """This host's infinite dataset of batches of `batch_size` clips.

  `make_clip(n)` builds global clip n (a scalar int64 tensor) in the graph;
  host `process_index` of `process_count` asks for its slice of every global
  batch, from step `start_step` on.
  """
  if not 0 <= process_index < process_count:
    raise ValueError(f"process_index={process_index} is not in "
                     f"[0, {process_count}).")
  # k: this host's clip number; _global_clip_index maps it to the global one.
  ds = tf.data.Dataset.range(start_step * batch_size,
                             np.iinfo(np.int64).max // (2 * process_count))
  ds = ds.map(lambda k: make_clip(_global_clip_index(
      k, batch_size, process_index, process_count)),
              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.batch(batch_size, drop_remainder=True)
  return ds.with_options(_options()).prefetch(2)


def numpy_clip(build: Callable[[int], dict[str, np.ndarray]],
               signature: dict[str, tuple[tf.DType, tuple[int, ...]]]
               ) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
  """`make_clip` for a plug-in that builds clips in numpy: `build(n)` -> dict
  with the keys, dtypes and static shapes of `signature`."""
  keys = sorted(signature)

  def as_tuple(n):
    clip = build(int(n))
    return tuple(np.asarray(clip[k], signature[k][0].as_numpy_dtype)
                 for k in keys)

  def make_clip(n):
    values = tf.numpy_function(as_tuple, [n], [signature[k][0] for k in keys],
                               stateful=False)
    return {k: tf.ensure_shape(v, signature[k][1]) for k, v in zip(keys, values)}

  return make_clip


def local_batch_size(global_batch_size: int, process_count: int) -> int:
  if global_batch_size % process_count:
    raise ValueError(f"config.train.batch_size={global_batch_size} must be "
                     f"divisible by the {process_count} processes.")
  return global_batch_size // process_count


def device_batches(host_batches: Iterable[dict[str, Any]], mesh, *,
                   ahead: int = 1) -> Iterator[dict[str, jax.Array]]:
  """Global batches sharded over the mesh's 'data' axis, `ahead` in flight.

  `host_batches` yields this host's numpy slices; the transfers of the next
  `ahead` batches are issued (asynchronously) before the current one is
  handed out, so they overlap the train step.
  """
  queue = collections.deque()
  iterator = (host_batches.as_numpy_iterator()
              if isinstance(host_batches, tf.data.Dataset) else host_batches)
  for batch in iterator:
    queue.append(sharding.put_batch(batch, mesh))
    if len(queue) > ahead:
      yield queue.popleft()
