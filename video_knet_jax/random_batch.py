"""Well-formed random training clips, for benchmarks and model-level tests.

Shapes and dtypes are exactly those of `video_knet_jax.data` batches (see
`common.py`); content is random rectangles that keep their id across the
clip, so every loss (including the tracking losses) has positives.
"""
import numpy as np

from video_knet_jax import common


def random_clip_batch(config, batch_size: int, height: int, width: int,
                      seed: int = 0, num_things: int = 3) -> dict:
  """Returns a host numpy batch dict [B, T, ...] of random objects."""
  rng = np.random.default_rng(seed)
  frames = 1 + config.data.num_refs
  max_inst = config.data.max_instances
  num_thing_classes = config.model.num_thing_classes
  num_stuff = config.model.num_stuff_classes
  shape = (batch_size, frames)
  thing_ids = tuple(config.data.thing_train_ids)
  stuff_ids = [c for c in range(config.data.num_classes) if c not in thing_ids]
  palette = rng.normal(size=(256, 3)).astype(np.float32)
  instance_colors = 0.5 * rng.normal(size=(max_inst, 3)).astype(np.float32)
  batch = {
      common.IMAGE: rng.normal(size=shape + (height, width, 3)).astype(
          np.float32),
      common.PADDING_MASK: np.zeros(shape + (height, width), bool),
      common.SEMANTIC: np.zeros(shape + (height, width), np.int32),
      common.THING_MASKS: np.zeros(shape + (max_inst, height, width), np.uint8),
      common.THING_CLASSES: np.zeros(shape + (max_inst,), np.int32),
      common.THING_IDS: np.zeros(shape + (max_inst,), np.int32),
      common.THING_VALID: np.zeros(shape + (max_inst,), bool),
      common.STUFF_MASKS: np.zeros(shape + (num_stuff, height, width),
                                   np.uint8),
      common.STUFF_VALID: np.zeros(shape + (num_stuff,), bool),
      common.VOID_MASK: np.zeros(shape + (height, width), bool),
      common.SEQUENCE_ID: np.arange(batch_size, dtype=np.int32),
      common.FRAME_INDEX: np.tile(np.arange(frames, dtype=np.int32),
                                  (batch_size, 1)),
  }
  for b in range(batch_size):
    # Stuff: horizontal bands of two random classes (model stuff index).
    stuff = rng.choice(num_stuff, size=2, replace=False)
    split = height // 2
    for t in range(frames):
      for k, rows in zip(stuff, (slice(0, split), slice(split, height))):
        batch[common.STUFF_MASKS][b, t, k, rows] = 1
        batch[common.STUFF_VALID][b, t, k] = True
    n = min(num_things, max_inst)
    for i in range(n):
      h = int(rng.integers(height // 8, height // 2))
      w = int(rng.integers(width // 8, width // 3))
      y, x = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
      cls = int(rng.integers(0, num_thing_classes))
      for t in range(frames):
        dy, dx = int(rng.integers(-2, 3)), int(rng.integers(-4, 5))
        yy, xx = np.clip(y + dy, 0, height - h), np.clip(x + dx, 0, width - w)
        batch[common.THING_MASKS][b, t, i, yy:yy + h, xx:xx + w] = 1
        batch[common.THING_CLASSES][b, t, i] = cls
        batch[common.THING_IDS][b, t, i] = 1000 * (cls + 1) + i + 1
        batch[common.THING_VALID][b, t, i] = True
    # Things occlude stuff: remove thing pixels from the stuff masks.
    things_any = batch[common.THING_MASKS][b].max(axis=1)  # [T, H, W]
    batch[common.STUFF_MASKS][b] *= (1 - things_any)[:, None]
    # Semantic map in dataset trainIds (later masks win, as painted).
    for k in range(num_stuff):
      batch[common.SEMANTIC][b][batch[common.STUFF_MASKS][b, :, k] > 0] = (
          stuff_ids[k])
    for i in range(max_inst):
      for t in range(frames):
        if batch[common.THING_VALID][b, t, i]:
          region = batch[common.THING_MASKS][b, t, i] > 0
          batch[common.SEMANTIC][b, t][region] = thing_ids[
              batch[common.THING_CLASSES][b, t, i]]
    # Images show their labels: a colour per class plus one per instance, and
    # noise, so a model can learn (and overfit) them.
    image = batch[common.IMAGE][b]
    image *= 0.3
    image += palette[batch[common.SEMANTIC][b]]
    for i in range(max_inst):
      image += (batch[common.THING_MASKS][b, :, i, ..., None]
                * instance_colors[i])
  return batch


TARGET_KEYS = (common.THING_MASKS, common.THING_CLASSES, common.THING_IDS,
               common.THING_VALID, common.STUFF_MASKS, common.STUFF_VALID,
               common.VOID_MASK)


def compact_labels(batch: dict, panoptic_divisor: int) -> dict:
  """The batch as `config.data.targets_on_device` ships it: the target keys
  replaced by INSTANCE [B, T, H, W] int32 (each valid thing mask painted
  with its id's instance number, later masks on top)."""
  out = {k: v for k, v in batch.items() if k not in TARGET_KEYS}
  instance = np.zeros(batch[common.SEMANTIC].shape, np.int32)
  masks = batch[common.THING_MASKS]
  ids = batch[common.THING_IDS] % panoptic_divisor
  for b, t, i in zip(*np.nonzero(batch[common.THING_VALID])):
    instance[b, t][masks[b, t, i] > 0] = ids[b, t, i]
  out[common.INSTANCE] = instance
  return out
