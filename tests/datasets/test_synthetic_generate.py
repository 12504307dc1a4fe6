"""The synthetic generator: deterministic, STEP-valid, and it needs tracking."""
import os

import numpy as np
import pytest

from video_knet_jax.datasets.synthetic_step import generate
from video_knet_jax.datasets.synthetic_step import spec as spec_lib

DEFAULT = spec_lib.SyntheticSpec()   # the size configs/synthetic_step.py uses.


def _masks(semantic, instance):
  """{instance id: (class, [T, H, W] bool)} of one sequence's things."""
  out = {}
  for i in np.unique(instance):
    if i:
      m = instance == i
      out[int(i)] = (int(np.unique(semantic[m])[0]), m)
  return out


def test_deterministic_for_a_seed():
  a = generate.render_sequence(DEFAULT, 5)
  b = generate.render_sequence(DEFAULT, 5)
  c = generate.render_sequence(spec_lib.SyntheticSpec(seed=1), 5)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  assert not np.array_equal(a[0], c[0])


def test_labels_are_valid_step_labels():
  images, semantic, instance = generate.render_sequence(DEFAULT, 0)
  assert images.shape == (24, 128, 384, 3) and images.dtype == np.uint8
  values = set(np.unique(semantic).tolist())
  assert values <= set(range(19)) | {255}
  assert {0, 1, 2, 10, 11, 13, 255} <= values | {11, 13}   # several stuff + void.
  assert len(values - {11, 13, 255}) >= 5
  thing = np.isin(semantic, (11, 13))
  assert (instance[~thing] == 0).all()        # only things carry ids.
  assert (instance[thing] > 0).all()
  for cls, m in _masks(semantic, instance).values():
    assert (semantic[m] == cls).all()         # one class per track id.


def test_tracking_is_genuinely_needed():
  """Across default-size sequences: fast motion, crossing, occlusion, entry/exit."""
  fast = crossing = enter = leave = occluded = reappears = 0
  for seq in range(6):   # half the default train set keeps the test quick.
    _, semantic, instance = generate.render_sequence(DEFAULT, seq)
    tracks = _masks(semantic, instance)
    for cls, m in tracks.values():
      area = m.sum(axis=(1, 2))
      visible = area > 0
      for t in range(len(m) - 1):
        # Both frames fully show the object (far from the border), no overlap.
        if area[t] > 20 and area[t + 1] > 20 and not (m[t] & m[t + 1]).any():
          fast += 1
      if not visible[0] and visible.any():
        enter += 1
      if visible[0] and not visible[-1]:
        leave += 1
      # Partly hidden: area drops by half between two frames and recovers.
      if visible.all() and (area.min() < 0.5 * np.median(area)):
        occluded += 1
      # Fully hidden for a while, then back with the same id.
      seen = np.nonzero(visible)[0]
      if len(seen) and not visible[seen[0]:seen[-1] + 1].all():
        reappears += 1
    # Same-class objects whose x-centres swap order while both are visible.
    ids = list(tracks)
    for i in ids:
      for j in ids:
        ci, mi = tracks[i]
        cj, mj = tracks[j]
        if i < j and ci == cj:
          both = mi.any(axis=(1, 2)) & mj.any(axis=(1, 2))
          if both.sum() >= 2:
            xi = [np.nonzero(mi[t])[1].mean() for t in np.nonzero(both)[0]]
            xj = [np.nonzero(mj[t])[1].mean() for t in np.nonzero(both)[0]]
            crossing += len(set(np.sign(np.subtract(xi, xj)))) > 1
  assert fast >= 30, fast
  assert crossing >= 6, crossing        # at least one per sequence.
  assert enter >= 6 and leave >= 5, (enter, leave)
  assert occluded >= 3 and reappears >= 1, (occluded, reappears)


def test_same_class_instances_look_alike_but_differ():
  images, semantic, instance = generate.render_sequence(DEFAULT, 2)
  colours = {}
  for i, (cls, m) in _masks(semantic, instance).items():
    colours.setdefault(cls, []).append(images[m].astype(float).mean(axis=0))
  for cls, means in colours.items():
    means = np.asarray(means)
    assert len(means) >= 2
    spread = np.abs(means[:, None] - means[None]).max(axis=-1)
    assert (spread[~np.eye(len(means), dtype=bool)] > 1.0).all(), cls


def test_write_tree_is_idempotent_and_validates_spec(tmp_path):
  spec = spec_lib.SyntheticSpec(num_train_sequences=1, num_val_sequences=1,
                                frames_per_sequence=3, height=32, width=64)
  root = generate.write_tree(tmp_path / "raw", spec)
  stamp = os.stat(root / "images/train/0000/000000.png").st_mtime_ns
  generate.write_tree(tmp_path / "raw", spec)
  assert os.stat(root / "images/train/0000/000000.png").st_mtime_ns == stamp
  assert len(list((root / "images/val/1000").iterdir())) == 3
  with pytest.raises(ValueError, match="frames_per_sequence"):
    spec_lib.SyntheticSpec(frames_per_sequence=2)
  with pytest.raises(ValueError, match="num_train_sequences"):
    spec_lib.SyntheticSpec(num_train_sequences=1001)
  with pytest.raises(ValueError, match="unknown fields"):
    spec_lib.SyntheticSpec.from_dict({"seed": 0, "frames": 3})


def test_val_sequences_do_not_depend_on_the_train_count():
  """More training videos must not change which videos are scored."""
  few = spec_lib.SyntheticSpec(num_train_sequences=12).split_sequences()
  many = spec_lib.SyntheticSpec(num_train_sequences=48).split_sequences()
  assert few["val"] == many["val"] == tuple(range(1000, 1004))
  assert not set(many["train"]) & set(many["val"])
  held_out = spec_lib.SyntheticSpec(first_val_sequence=2000)
  assert held_out.split_sequences()["val"] == tuple(range(2000, 2004))
  assert held_out.config_name() != spec_lib.SyntheticSpec().config_name()
