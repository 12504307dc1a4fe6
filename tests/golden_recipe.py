"""Golden values of the released recipe: a tiny fixed-seed model's outputs, losses,
export and online predictions, recorded before the ablation switches existed.

`tests/test_released_recipe_golden.py` recomputes them and requires equality, so
no switch (issue 26) can change what the released recipe computes. Rewrite the
file only for an intended change of the released recipe:

  python -m tests.golden_recipe   # writes tests/golden/released_recipe.npz
"""
import os

import jax
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "tests", "golden", "released_recipe.npz")
HEIGHT, WIDTH, BATCH = 64, 96, 2
NUM_THING_CLASSES = 2


def config():
  """The released R50 recipe (configs/kitti_step.py), shrunk by `:debug`."""
  from video_knet_jax.configs import kitti_step  # pylint: disable=g-import-not-at-top
  cfg = kitti_step.get_config("debug")
  cfg.data.crop_size = (HEIGHT, WIDTH)
  return cfg


def fixed_variables(abstract, seed: int = 0) -> dict:
  """Seeded numpy values for an abstract variable tree (no compiled init):
  norm scales and variances near 1, biases and means 0, weights N(0, 0.2^2)."""
  rng = np.random.RandomState(seed)

  def draw(path, leaf):
    name = str(path[-1].key)
    if name in ("scale", "var"):
      return (1.0 + 0.1 * rng.uniform(-1, 1, leaf.shape)).astype(leaf.dtype)
    if name in ("bias", "mean"):
      return np.zeros(leaf.shape, leaf.dtype)
    return (0.2 * rng.standard_normal(leaf.shape)).astype(leaf.dtype)
  return jax.tree_util.tree_map_with_path(draw, abstract)


class _CentredMasks:
  """The model with each kernel's mask logits minus their spatial mean and the
  thing classes' logits raised by 2."""

  def __init__(self, model):
    self.model = model

  def apply(self, variables, images, **kwargs):
    from video_knet_jax import common  # pylint: disable=g-import-not-at-top
    out = dict(self.model.apply(variables, images, **kwargs))
    masks = out[common.MASK_LOGITS]
    out[common.MASK_LOGITS] = masks - masks.mean(axis=(2, 3), keepdims=True)
    cls = out[common.CLS_LOGITS]
    out[common.CLS_LOGITS] = cls.at[..., :NUM_THING_CLASSES].add(2.0)
    return out


def compute() -> dict:
  """Every golden array, keyed 'out/<frame>/<key>', 'loss/<part>', 'export/<key>'
  (shape, sum, checksum, is-int64), 'export_order',
  'predict/<frame>/<semantic|ids>'."""
  from video_knet_jax import random_batch  # pylint: disable=g-import-not-at-top
  from video_knet_jax import train as train_lib  # pylint: disable=g-import-not-at-top
  from video_knet_jax.convert import flax_to_torch  # pylint: disable=g-import-not-at-top
  from video_knet_jax.inference import predictor as predictor_lib  # pylint: disable=g-import-not-at-top
  from video_knet_jax.losses import video_loss  # pylint: disable=g-import-not-at-top
  from video_knet_jax.models import video_knet  # pylint: disable=g-import-not-at-top

  cfg = config()
  model = video_knet.build_model(cfg)
  variables = fixed_variables(jax.eval_shape(
      lambda rng: train_lib.init_variables(model, cfg, rng), jax.random.key(0)))
  batch = random_batch.random_clip_batch(cfg, BATCH, HEIGHT, WIDTH, seed=0)
  batch = {k: np.asarray(v) for k, v in batch.items()}

  def forward_and_loss(variables, batch):
    outputs = video_knet.clip_forward(model, variables, batch["image"], train=True)
    _, parts = video_loss.video_knet_loss(outputs, batch, cfg)
    return outputs, parts

  outputs, parts = jax.jit(forward_and_loss)(variables, batch)
  golden = {}
  for t, frame in enumerate(outputs):
    for key, value in frame.items():
      golden[f"out/{t}/{key}"] = np.asarray(value)
  for key, value in parts.items():
    golden[f"loss/{key}"] = np.asarray(value)
  state = flax_to_torch.flax_to_torch(jax.device_get(variables))
  golden["export_order"] = np.asarray(list(state))
  for key, value in state.items():   # shape, dtype and a position-weighted checksum.
    flat = np.asarray(value, np.float64).ravel()
    golden[f"export/{key}"] = np.asarray(
        [*value.shape, flat.sum(), flat @ np.cos(np.arange(flat.size)), str(value.dtype) == "int64"],
        np.float64)

  # Online prediction (merge + quasi-dense tracker) of a 3-frame noise video;
  # mask logits centred per kernel and the overlap test off, so that the
  # random model's things reach the tracker.
  cfg.inference.overlap_thr = 0.0
  predictor = predictor_lib.VideoPredictor(_CentredMasks(model), variables, cfg)
  rng = np.random.default_rng(1)
  frames = [rng.integers(0, 256, (HEIGHT - 4, WIDTH - 8, 3), dtype=np.uint8)
            for _ in range(3)]
  for t, result in enumerate(predictor.predict_sequence(frames)):
    golden[f"predict/{t}/semantic"] = result.semantic
    golden[f"predict/{t}/ids"] = result.ids
  return golden


def main():
  golden = compute()
  os.makedirs(os.path.dirname(GOLDEN), exist_ok=True)
  np.savez_compressed(GOLDEN, **golden)
  print(f"{len(golden)} arrays written to {GOLDEN}")


if __name__ == "__main__":
  main()
