"""Well-formed random training clips, for benchmarks and model-level tests.

Shapes and dtypes are exactly those of `video_knet_jax.data` batches (see
`common.py`); content is random rectangles that keep their id across the
clip, so every loss (including the tracking losses) has positives.
"""
import numpy as np

from video_knet_jax import common

# Where a config keeps its training input size (H, W): every field present is set.
_SIZE_FIELDS = ("crop_size", "eval_size", "canvas")
# Clips in the nominal train split of a config whose schedule counts the built
# split (train.num_train_frames = -1), per clip of the global batch.
_NOMINAL_SPLIT_CLIPS = 1000


def configure_without_data(config, height: int, width: int) -> None:
  """Readies `config` for random inputs of (height, width), no data set built:
  sets the input size wherever the config keeps it (`data.crop_size` and
  `eval_size`, or `data.canvas`) and, where the schedule's length comes from
  the built train split (`train.num_train_frames` -1, `num_steps` unset), a
  nominal split (the step costs the same)."""
  for field in _SIZE_FIELDS:
    if field in config.data:
      setattr(config.data, field, (int(height), int(width)))
  train = config.train
  if train.get("num_steps", 0) <= 0 and train.get("num_train_frames", 1) <= 0:
    train.num_train_frames = _NOMINAL_SPLIT_CLIPS * int(train.batch_size)


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


def random_vis_clip_batch(config, batch_size: int, seed: int = 0,
                          num_objects: int = 3) -> dict:
  """A host batch of YouTube-VIS training clips (`data.vis_clips` keys):
  image [B, T, H, W, 3] on the canvas, masks [B, T, M, H, W] uint8 of
  rectangles that drift a little from frame to frame, present [B, T, M],
  labels [B, M], valid [B, M]."""
  from video_knet_jax.losses import clip_loss  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  t, m = int(config.data.clip_length), int(config.data.max_instances)
  height, width = (int(s) for s in config.data.canvas)
  masks = np.zeros((batch_size, t, m, height, width), np.uint8)
  n = min(num_objects, m)
  for b in range(batch_size):
    for i in range(n):
      h = int(rng.integers(height // 8, height // 2))
      w = int(rng.integers(width // 8, width // 2))
      y, x = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
      for f in range(t):
        yy = int(np.clip(y + rng.integers(-2, 3), 0, height - h))
        xx = int(np.clip(x + rng.integers(-2, 3), 0, width - w))
        masks[b, f, i, yy:yy + h, xx:xx + w] = 1
  image = (0.3 * rng.normal(size=(batch_size, t, height, width, 3))
           + masks.max(axis=2)[..., None]).astype(np.float32)
  valid = np.broadcast_to(np.arange(m) < n, (batch_size, m)).copy()
  labels = rng.integers(0, config.model.num_thing_classes,
                        size=(batch_size, m)).astype(np.int32) * valid
  return {common.IMAGE: image, clip_loss.MASKS: masks,
          clip_loss.PRESENT: masks.any(axis=(3, 4)), clip_loss.LABELS: labels,
          clip_loss.VALID: valid}


def random_semantic_clip_batch(config, batch_size: int, seed: int = 0) -> dict:
  """A host batch of VSPW training clips (key + reference): image
  [B, 2, H, W, 3] and semantic [B, 2, H, W] int32 of random class bands
  (some pixels void), the crop size of config.data.crop_size."""
  rng = np.random.default_rng(seed)
  height, width = (int(s) for s in config.data.crop_size)
  bands = rng.integers(0, config.data.num_classes, size=(batch_size, 1, 4))
  rows = np.minimum(np.arange(height) * 4 // height, 3)
  semantic = np.broadcast_to(bands[:, :, rows, None],
                             (batch_size, 2, height, width)).astype(np.int32)
  semantic = np.where(rng.random(semantic.shape) < 0.05,
                      int(config.data.ignore_label), semantic)
  image = (rng.normal(size=semantic.shape + (3,))
           + (semantic % 7)[..., None] / 7.0).astype(np.float32)
  return {common.IMAGE: image, common.SEMANTIC: semantic}


def random_variables(abstract, seed: int = 0):
  """Random model variables of `abstract`'s shapes (a tree of
  ShapeDtypeStructs), without running (or compiling) the model's init: for
  timing inference. Kernels are normal with variance 1 / fan-in (activations
  keep their scale through a deep network), norm scales and variances 1,
  biases and means 0, anything else (embeddings, position tables) N(0, 0.02^2).
  """
  import jax  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)

  def draw(path, leaf):
    name = str(getattr(path[-1], "key", path[-1]))
    shape, dtype = tuple(leaf.shape), leaf.dtype
    if name in ("scale", "var"):
      return np.ones(shape, dtype)
    if name in ("bias", "mean"):
      return np.zeros(shape, dtype)
    std = 1.0 / np.sqrt(max(int(np.prod(shape[:-1])), 1)) if name == "kernel" else 0.02
    return (std * rng.standard_normal(shape)).astype(dtype)
  return jax.tree_util.tree_map_with_path(draw, abstract)
