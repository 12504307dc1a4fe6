"""The Cityscapes-STEP builder: trainId PNGs -> STEP examples, bad inputs."""

import numpy as np
import pytest
from PIL import Image

from tests.datasets import builders
from video_knet_jax.datasets import errors
from video_knet_jax.datasets.cityscapes_step import cityscapes_step_dataset_builder as csb
from video_knet_jax.datasets.cityscapes_step import generate
from video_knet_jax.datasets.kitti_step import label_codec

SPEC = generate.CityscapesStepSpec(seed=2, num_train=2, num_val=1, num_test=1,
                                   height=48, width=96)


def _build(root, data_dir, spec=SPEC):
  return builders.prepare(
      csb.Builder, csb.CityscapesStepConfig(name="tiny", facts=spec.facts()),
      root, data_dir)


_read = builders.read_split


def test_round_trip(tmp_path):
  root = generate.write_tree(tmp_path / "raw", SPEC)
  assert (root / "gtFine/train/aachen/"
          "aachen_000001_000019_gtFine_instanceTrainIds.png").exists()
  builder = _build(root, tmp_path / "tfds")
  train = _read(builder, "train")
  assert [int(x["sequence_id"]) for x in train] == [0, 1]
  assert all(int(x["frame_index"]) == 0 and x["has_label"] for x in train)
  saw_truck = saw_id_zero = False
  for index, ex in enumerate(train):
    image, train_ids, instance_ids = generate.render_image(SPEC, "train", index)
    np.testing.assert_array_equal(ex["image"], image)
    sem, ins = label_codec.decode_rgb_label(ex["panoptic_label"])
    np.testing.assert_array_equal(sem, train_ids)
    # Person/car instance k of the image -> track k + 1; others -> 0.
    thing = np.isin(train_ids, (11, 13)) & (instance_ids >= 1000)
    np.testing.assert_array_equal(ins, np.where(thing, instance_ids % 1000 + 1,
                                                0))
    saw_id_zero |= bool((thing & (instance_ids % 1000 == 0)).any())
    saw_truck |= bool((instance_ids == 14000).any())
    assert (ins[train_ids == 14] == 0).all()   # truck: stuff in STEP.
    expected = np.unique(sem[thing] * 1000 + ins[thing])
    np.testing.assert_array_equal(ex["thing_ids"], expected)
    assert ex["file_name"].decode() == (
        f"leftImg8bit/train/aachen/aachen_{index:06d}_000019_leftImg8bit.png")
  assert saw_id_zero and saw_truck
  test = _read(builder, "test")
  assert len(test) == 1 and not test[0]["has_label"]
  assert (test[0]["panoptic_label"][..., 0] == 255).all()


def test_missing_manual_dir(tmp_path):
  (tmp_path / "empty").mkdir()
  with pytest.raises(errors.MissingManualDirError, match="leftImg8bit"):
    _build(tmp_path / "empty", tmp_path / "tfds")


def test_missing_label_png(tmp_path):
  root = generate.write_tree(tmp_path / "raw", SPEC)
  _, label, _ = generate.paths(root, "val", 0)
  label.unlink()
  with pytest.raises(errors.MissingLabelError,
                     match="frankfurt_000000_000019_gtFine_labelTrainIds.png"):
    _build(root, tmp_path / "tfds")


def test_wrong_mode(tmp_path):
  root = generate.write_tree(tmp_path / "raw", SPEC)
  _, label, _ = generate.paths(root, "train", 1)
  Image.open(label).convert("RGB").save(label)
  with pytest.raises(errors.BadPngError, match="aachen_000001.*mode RGB"):
    _build(root, tmp_path / "tfds")


def test_wrong_size(tmp_path):
  root = generate.write_tree(tmp_path / "raw", SPEC)
  _, _, instance = generate.paths(root, "train", 0)
  Image.open(instance).crop((0, 0, 40, 30)).save(instance)
  with pytest.raises(errors.BadPngError,
                     match="aachen_000000_000019_gtFine_instanceTrainIds.png"):
    _build(root, tmp_path / "tfds")


def _set_pixel(path, value):
  """Rewrites the PNG at `path` (its mode kept) with pixel (0, 0) = value."""
  array = np.array(Image.open(path))
  array[0, 0] = value
  Image.fromarray(array).save(path)


def test_unknown_class(tmp_path):
  root = generate.write_tree(tmp_path / "raw", SPEC)
  _, label, instance = generate.paths(root, "train", 0)
  _set_pixel(label, 19)
  _set_pixel(instance, 19)
  with pytest.raises(errors.BadLabelValueError,
                     match=r"labelTrainIds.png has semantic ids \[19\]"):
    _build(root, tmp_path / "tfds")


def test_instance_and_label_disagree(tmp_path):
  root = generate.write_tree(tmp_path / "raw", SPEC)
  _, _, instance = generate.paths(root, "train", 0)
  _set_pixel(instance, 13005)   # a car instance where the label says sky.
  with pytest.raises(errors.BadLabelValueError,
                     match=r"instanceTrainIds.png pixel \(y=0, x=0\)"):
    _build(root, tmp_path / "tfds")


def test_split_size_is_checked(tmp_path):
  root = generate.write_tree(tmp_path / "raw", SPEC)
  image, _, _ = generate.paths(root, "train", 1)
  image.unlink()
  with pytest.raises(errors.MissingSplitError, match="found 1 videos"):
    _build(root, tmp_path / "tfds")
