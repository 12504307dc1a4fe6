"""Which frames form the n-th training clip: a counter-based, resumable sampler.

There is one global clip stream per run, the same on every host: clip n is a
pure function of (seed, n) over the whole train split. Step s's global batch
is clips s * B .. s * B + B - 1, and host p of P takes its contiguous slice
(`global_clip_index`), so P hosts together read exactly what one host reads.
The key frame comes from a per-epoch permutation of the eligible key frames, the
reference offsets are drawn afresh for every clip from `ref_offsets` (paper:
one of {-2, -1, +1, +2}; the original fixes the pairs once per dataset), and
the augmentation seed is drawn from the same stream. Resuming at step s
therefore starts at n = s * batch without replaying anything.
"""
import dataclasses
from typing import Iterator, Sequence

import numpy as np

_KEY_STREAM, _CLIP_STREAM = 0, 1
# Second word of every seed: once the process index (each host had its own
# stream); kept at 0 so single-host clips are bit-identical to before.
_GLOBAL_STREAM = 0


def global_clip_index(local_index, *, local_batch: int, process_index: int,
                      process_count: int):
  """Host-local clip number -> global clip number (ints or numpy arrays).

  Host p's k-th clip is clip i = p * b + k % b of global batch k // b
  (b = local_batch, global batch B = P * b): n = (k // b) * B + i.
  """
  if not 0 <= process_index < process_count:
    raise ValueError(f"process_index={process_index} is not in "
                     f"[0, {process_count}).")
  step, within = divmod(local_index, local_batch)
  return (step * (local_batch * process_count) + process_index * local_batch
          + within)


@dataclasses.dataclass(frozen=True)
class Clip:
  rows: np.ndarray        # [T] int64 frame-store rows: key, then references.
  aug_seed: np.ndarray    # [2] int32 seed for tf.random.stateless_*.


class ClipSampler:
  """Eligible key frames and their candidate references, then clip draws."""

  def __init__(self, sequence_ids: np.ndarray, frame_indices: np.ndarray,
               thing_ids: Sequence[np.ndarray], *, ref_offsets: Sequence[int],
               num_refs: int, require_shared_thing: bool, seed: int):
    if num_refs < 0:
      raise ValueError(f"config.data.num_refs={num_refs} must be >= 0.")
    if num_refs and (not ref_offsets or 0 in ref_offsets):
      raise ValueError(f"config.data.ref_offsets={tuple(ref_offsets)} must be "
                       "non-empty and must not contain 0.")
    self.num_refs = num_refs
    self.seed = int(seed)
    row_of = {(int(s), int(f)): i for i, (s, f)
              in enumerate(zip(sequence_ids, frame_indices))}
    keys, candidates = [], []
    for row, (seq, frame) in enumerate(zip(sequence_ids, frame_indices)):
      ids = set(thing_ids[row].tolist())
      if require_shared_thing and not ids:
        continue   # The original never trains on thing-free key frames.
      refs = []
      for off in ref_offsets:
        ref = row_of.get((int(seq), int(frame) + int(off)))
        if ref is None:
          continue   # Offset leaves the sequence.
        if require_shared_thing and not ids & set(thing_ids[ref].tolist()):
          continue
        refs.append(ref)
      if num_refs and not refs:
        continue
      keys.append(row)
      candidates.append(np.asarray(refs, np.int64))
    if not keys:
      raise ValueError(
          "No frame can serve as a key frame: every frame lacks a reference "
          f"at offsets {tuple(ref_offsets)}"
          + (" sharing a thing id (config.data.require_shared_thing)."
             if require_shared_thing else "."))
    self.keys = np.asarray(keys, np.int64)
    self.candidates = candidates
    self._epoch_perm = (-1, None)   # one attribute: safe across threads.

  def __len__(self) -> int:
    """Key frames per epoch."""
    return len(self.keys)

  def clip(self, n: int) -> Clip:
    """The n-th clip (0-based) of the run's infinite global clip stream."""
    epoch, pos = divmod(int(n), len(self.keys))
    cached_epoch, perm = self._epoch_perm
    if epoch != cached_epoch:
      rng = np.random.default_rng(
          [self.seed, _GLOBAL_STREAM, _KEY_STREAM, epoch])
      perm = rng.permutation(len(self.keys))
      self._epoch_perm = (epoch, perm)
    index = perm[pos]
    rng = np.random.default_rng([self.seed, _GLOBAL_STREAM, _CLIP_STREAM, n])
    cands = self.candidates[index]
    refs = rng.choice(cands, size=self.num_refs,
                      replace=len(cands) < self.num_refs)
    rows = np.concatenate([[self.keys[index]], refs]).astype(np.int64)
    aug_seed = rng.integers(0, 2**31 - 1, size=2, dtype=np.int64)
    return Clip(rows=rows, aug_seed=aug_seed.astype(np.int32))

  def iterate(self, start: int = 0) -> Iterator[Clip]:
    n = start
    while True:
      yield self.clip(n)
      n += 1
