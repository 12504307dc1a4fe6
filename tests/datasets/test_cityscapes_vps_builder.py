"""The Cityscapes-VPS builder: COCO panoptic video PNG + JSON -> STEP examples."""

import numpy as np
import pytest
from PIL import Image

from tests.datasets import builders
from video_knet_jax.datasets import errors
from video_knet_jax.datasets.cityscapes_vps import cityscapes_vps_dataset_builder as vb
from video_knet_jax.datasets.cityscapes_vps import generate
from video_knet_jax.datasets.kitti_step import label_codec

SPEC = generate.CityscapesVpsSpec(seed=0, num_train=1, num_val=1, num_test=1,
                                  height=32, width=64)
LABELLED = (4, 9, 14, 19, 24, 29)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
  return generate.write_tree(tmp_path_factory.mktemp("vps") / "raw", SPEC)


def _build(root, data_dir):
  return builders.prepare(
      vb.Builder, vb.CityscapesVpsConfig(name="tiny", facts=SPEC.facts()),
      root, data_dir)


_read = builders.read_split


def _copy(tree, tmp_path):
  import shutil
  return shutil.copytree(tree, tmp_path / "raw")


def test_round_trip(tree, tmp_path):
  builder = _build(tree, tmp_path / "tfds")
  train, val, test = (_read(builder, s) for s in ("train", "val", "test"))
  assert [int(x["frame_index"]) for x in train] == list(LABELLED)
  assert [int(x["frame_index"]) for x in val] == list(range(30))
  assert [int(x["frame_index"]) for x in val if x["has_label"]] == list(LABELLED)
  assert len(test) == 30 and not any(x["has_label"] for x in test)
  assert {int(x["sequence_id"]) for x in val} == {2}
  images, semantic, instance = generate.render_video(SPEC, 2)
  track_of = {}
  for ex in val:
    t = int(ex["frame_index"])
    np.testing.assert_array_equal(ex["image"], images[t])
    sem, ins = label_codec.decode_rgb_label(ex["panoptic_label"])
    if not ex["has_label"]:
      assert (sem == 255).all()
      continue
    np.testing.assert_array_equal(sem, semantic[t])
    assert (ins[semantic[t] == 14] == 0).all()       # crowd truck: no track.
    assert (ins[instance[t] == 0] == 0).all()
    for ident in np.unique(instance[t][instance[t] > 0]):
      tracks = np.unique(ins[instance[t] == ident])
      assert len(tracks) == 1 and tracks[0] > 0
      assert track_of.setdefault(int(ident), int(tracks[0])) == tracks[0]
    thing = ins > 0
    np.testing.assert_array_equal(ex["thing_ids"],
                                  np.unique(sem[thing] * 1000 + ins[thing]))
  # One distinct track per synthetic object over the whole video.
  assert len(set(track_of.values())) == len(track_of) >= 3


def _edit_json(root, split, edit):
  builders.edit_json(root / f"panoptic_gt_{split}_city_vps.json", edit)


def test_json_entry_without_png(tree, tmp_path):
  root = _copy(tree, tmp_path)
  label = sorted((root / "val/panoptic_video").iterdir())[2]
  label.unlink()
  with pytest.raises(errors.MissingLabelError, match=label.name):
    _build(root, tmp_path / "tfds")


def test_png_without_json_entry(tree, tmp_path):
  root = _copy(tree, tmp_path)
  def drop_last(data):
    data["annotations"].pop()
  _edit_json(root, "train", drop_last)
  with pytest.raises(errors.MissingLabelError, match="has no entry in"):
    _build(root, tmp_path / "tfds")


def test_missing_json(tree, tmp_path):
  root = _copy(tree, tmp_path)
  (root / "panoptic_gt_val_city_vps.json").unlink()
  with pytest.raises(errors.BadJsonError, match="panoptic_gt_val_city_vps.json"):
    _build(root, tmp_path / "tfds")


def test_wrong_png_mode(tree, tmp_path):
  root = _copy(tree, tmp_path)
  label = sorted((root / "train/panoptic_video").iterdir())[0]
  Image.open(label).convert("L").save(label)
  with pytest.raises(errors.BadPngError, match=f"{label.name}.*mode L"):
    _build(root, tmp_path / "tfds")


def test_wrong_png_size(tree, tmp_path):
  root = _copy(tree, tmp_path)
  label = sorted((root / "train/panoptic_video").iterdir())[1]
  Image.open(label).crop((0, 0, 20, 10)).save(label)
  with pytest.raises(errors.BadPngError, match=label.name):
    _build(root, tmp_path / "tfds")


def test_unknown_category(tree, tmp_path):
  root = _copy(tree, tmp_path)
  def bad_category(data):
    data["annotations"][0]["segments_info"][0]["category_id"] = 19
  _edit_json(root, "train", bad_category)
  with pytest.raises(errors.UnknownCategoryError, match="category_id 19"):
    _build(root, tmp_path / "tfds")


def test_duplicate_segment_id(tree, tmp_path):
  root = _copy(tree, tmp_path)
  def duplicate(data):
    segments = data["annotations"][1]["segments_info"]
    segments.append(dict(segments[0]))
  _edit_json(root, "train", duplicate)
  with pytest.raises(errors.IdCollisionError, match="twice"):
    _build(root, tmp_path / "tfds")


def test_track_changing_class(tree, tmp_path):
  root = _copy(tree, tmp_path)
  def relabel(data):
    for seg in data["annotations"][3]["segments_info"]:
      if seg["category_id"] == 13 and not seg["iscrowd"]:
        seg["category_id"] = 15
        return
    raise AssertionError("no car in the frame")
  _edit_json(root, "val", relabel)
  with pytest.raises(errors.IdCollisionError, match="category 13 here but 15|category 15 here but 13"):
    _build(root, tmp_path / "tfds")


def test_missing_split_dir(tree, tmp_path):
  root = _copy(tree, tmp_path)
  import shutil
  shutil.rmtree(root / "test")
  with pytest.raises(errors.MissingSplitError, match="test/img_all"):
    _build(root, tmp_path / "tfds")
