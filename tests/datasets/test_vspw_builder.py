"""The VSPW builder on a generated tree: round trip, facts, and each named error."""

import numpy as np
import pytest
from PIL import Image

from tests.datasets import builders
from video_knet_jax.datasets.vspw import errors
from video_knet_jax.datasets.vspw import facts as facts_lib
from video_knet_jax.datasets.vspw import generate
from video_knet_jax.datasets.vspw import label_codec
from video_knet_jax.datasets.vspw import vspw_dataset_builder as vb

SPEC = generate.GeneratedSpec(seed=1, videos=(("train", 2), ("val", 1), ("test", 1)),
                              frames_per_video=3, height=24, width=32)


def _build(manual_dir, data_dir):
  return builders.prepare(vb.Builder, vb.VspwConfig(name="tiny"), manual_dir,
                          data_dir)


def _read(builder, split):
  return builders.read_split(builder, split, skip=("image",))


def test_round_trip(tmp_path):
  root = generate.write_tree(tmp_path / "raw", SPEC)
  assert (root / "data" / "train_0000_scene" / "mask" / "00000003.png").exists()
  builder = _build(tmp_path / "raw", tmp_path / "tfds")
  assert {k: v.num_examples for k, v in builder.info.splits.items()} == {
      "train": 6, "val": 3, "test": 3}
  for split in ("train", "val"):
    examples = _read(builder, split)
    order = [(int(x["sequence_id"]), int(x["frame_index"])) for x in examples]
    assert order == sorted(order)
    for x in examples:
      video, t = x["video"].decode(), int(x["frame_index"])
      index = int(video.split("_")[1])
      frames, masks = generate.render_video(SPEC, split, index)
      stem = f"{t * 3:08d}"
      # JPEG bytes stored unchanged; the mask exactly (0 and 255 present).
      assert x["image"] == (root / "data" / video / "origin" / f"{stem}.jpg").read_bytes()
      np.testing.assert_array_equal(x["mask"][..., 0], masks[t])
      assert {0, 255} <= set(np.unique(x["mask"]).tolist())
      assert x["has_label"]
  test = _read(builder, "test")
  assert not test[0]["has_label"] and (test[0]["mask"] == 255).all()


def test_label_codec_shift():
  raw = np.array([0, 1, 124, 255, 61], np.uint8)
  ids = label_codec.raw_to_train_ids(raw)
  np.testing.assert_array_equal(ids, [255, 0, 123, 255, 60])
  np.testing.assert_array_equal(label_codec.tf_raw_to_train_ids(raw).numpy(), ids)
  np.testing.assert_array_equal(label_codec.train_ids_to_raw([0, 123, 255]), [1, 124, 255])
  with pytest.raises(ValueError, match="outside"):
    label_codec.train_ids_to_raw([124])


def test_vspw_facts():
  f = facts_lib.VSPW
  assert f.num_classes == 124 and f.num_things == 0
  assert f.class_names[0] == "wall" and f.class_names[123] == "train"
  assert f.class_names[generate.PERSON - 1] == "person"
  assert len(set(f.colors)) == 124
  from video_knet_jax.datasets import facts as registry  # pylint: disable=g-import-not-at-top
  assert registry.facts_for_name("vspw") is f


def _tree(tmp_path):
  return generate.write_tree(tmp_path / "raw", SPEC)


def _mask_path(root, video="train_0001_scene", stem="00000003"):
  return root / "data" / video / "mask" / f"{stem}.png"


@pytest.mark.parametrize("damage, error, match", [
    (lambda r: _mask_path(r).unlink(), errors.MissingMaskError, "has no mask"),
    (lambda r: Image.fromarray(np.full((24, 32), 130, np.uint8)).save(_mask_path(r)),
     errors.BadMaskValueError, r"values \[130\]"),
    (lambda r: Image.fromarray(np.ones((20, 32), np.uint8)).save(_mask_path(r)),
     errors.BadMaskError, "20x32"),
    (lambda r: Image.fromarray(np.ones((24, 32, 3), np.uint8)).save(_mask_path(r)),
     errors.BadMaskError, "single-channel"),
    (lambda r: (r / "val.txt").write_text("val_0000_scene\nval_0042_lost\n"),
     errors.MissingVideoError, "val_0042_lost"),
    (lambda r: [p.unlink() for p in r.glob("*.txt")], errors.MissingManualDirError,
     "no split files"),
])
def test_named_errors(tmp_path, damage, error, match):
  damage(_tree(tmp_path))
  with pytest.raises(error, match=match):
    _build(tmp_path / "raw", tmp_path / "tfds")
