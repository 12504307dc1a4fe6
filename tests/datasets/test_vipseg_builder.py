"""The VIPSeg builder: 720p tree, COCO panoptic video PNG + JSON, bad inputs."""
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.datasets import builders
from video_knet_jax.datasets import errors
from video_knet_jax.datasets import facts as dataset_facts
from video_knet_jax.datasets.kitti_step import label_codec
from video_knet_jax.datasets.vipseg import facts as facts_lib
from video_knet_jax.datasets.vipseg import generate
from video_knet_jax.datasets.vipseg import vipseg_dataset_builder as vb

SPEC = generate.VipsegSpec(seed=0, num_train=2, num_val=1, frames_per_video=3,
                           height=36, width=64)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
  return generate.write_tree(tmp_path_factory.mktemp("vipseg") / "raw", SPEC)


def _build(root, data_dir, facts=None):
  return builders.prepare(
      vb.Builder, vb.VipsegConfig(name="tiny", facts=facts or SPEC.facts()),
      root, data_dir)


_read = builders.read_split


def test_facts():
  f = dataset_facts.facts_for_name("vipseg")
  assert f is facts_lib.VIPSEG
  assert dataset_facts.facts_for_name("cityscapes_vps").thing_names == (
      "person", "rider", "car", "truck", "bus", "train", "motorcycle",
      "bicycle")
  assert dataset_facts.facts_for_name("cityscapes_step").thing_names == (
      "person", "car")
  assert f.num_classes == 124 and len(f.thing_ids) == 58
  assert len(f.stuff_ids) == 66
  assert f.class_names[60] == "person" and 60 in f.thing_ids
  assert f.class_names[0] == "wall" and 0 in f.stuff_ids
  # Model order: the 58 things (door first), then the 66 stuff classes.
  assert f.model_to_semantic[:2] == (2, 4) and f.model_to_semantic[58] == 0
  assert f.colors[60] == (11, 200, 200)


def test_round_trip(tree, tmp_path):
  builder = _build(tree, tmp_path / "tfds")
  train = _read(builder, "train")
  assert [(int(x["sequence_id"]), int(x["frame_index"])) for x in train] == [
      (s, t) for s in range(2) for t in range(3)]
  val = _read(builder, "val", skip=("image",))
  assert [int(x["sequence_id"]) for x in val] == [0, 0, 0]
  video = SPEC.video_names("val")[0]
  images, classes, instance = generate.render_video(SPEC, 2)
  track_of = {}
  for t, ex in enumerate(val):
    assert ex["has_label"]
    # The JPEG is stored byte for byte.
    assert ex["image"] == (tree / "images" / video / f"{t:08d}.jpg").read_bytes()
    sem, ins = label_codec.decode_rgb_label(ex["panoptic_label"])
    np.testing.assert_array_equal(sem, classes[t])
    thing = np.isin(classes[t], facts_lib.THING_IDS)
    assert sem.shape == (36, 64)
    assert (ins[~thing] == 0).all() and (ins[thing] > 0).all()
    for key in set(zip(classes[t][thing].tolist(), instance[t][thing].tolist())):
      mask = (classes[t] == key[0]) & (instance[t] == key[1])
      tracks = np.unique(ins[mask])
      assert len(tracks) == 1
      assert track_of.setdefault(key, int(tracks[0])) == tracks[0]
    np.testing.assert_array_equal(
        ex["thing_ids"], np.unique(sem[thing] * 1000 + ins[thing]))
  assert len(set(track_of.values())) == len(track_of) >= 3


def _copy(tree, tmp_path):
  return shutil.copytree(tree, tmp_path / "raw")


def _edit_json(root, name, edit):
  builders.edit_json(root / name, edit)


def test_frames_must_be_720p(tree, tmp_path):
  facts = SPEC.facts()
  import dataclasses
  with pytest.raises(errors.BadPngError, match="36 pixels tall.*720"):
    _build(tree, tmp_path / "tfds",
           facts=dataclasses.replace(facts, frame_height=720))


def test_json_entry_without_png(tree, tmp_path):
  root = _copy(tree, tmp_path)
  video = SPEC.video_names("train")[1]
  (root / "panomasksRGB" / video / "00000001.png").unlink()
  with pytest.raises(errors.MissingLabelError,
                     match=f"{video}/00000001.png does not exist"):
    _build(root, tmp_path / "tfds")


def test_wrong_png_mode(tree, tmp_path):
  root = _copy(tree, tmp_path)
  video = SPEC.video_names("val")[0]
  path = root / "panomasksRGB" / video / "00000002.png"
  Image.open(path).convert("P").save(path)
  with pytest.raises(errors.BadPngError, match=f"{video}/00000002.png.*mode P"):
    _build(root, tmp_path / "tfds")


def test_wrong_png_size(tree, tmp_path):
  root = _copy(tree, tmp_path)
  video = SPEC.video_names("train")[0]
  path = root / "panomasksRGB" / video / "00000000.png"
  Image.open(path).resize((32, 18)).save(path)
  with pytest.raises(errors.BadPngError, match=f"{video}/00000000.png is 18x32"):
    _build(root, tmp_path / "tfds")


def test_unknown_category(tree, tmp_path):
  root = _copy(tree, tmp_path)
  def bad(data):
    data["annotations"][0]["annotations"][1]["segments_info"][0][
        "category_id"] = 124
  _edit_json(root, "panoptic_gt_VIPSeg_train.json", bad)
  with pytest.raises(errors.UnknownCategoryError,
                     match=r"00000001.png has category_id 124"):
    _build(root, tmp_path / "tfds")


def test_category_table_must_match(tree, tmp_path):
  root = _copy(tree, tmp_path)
  def flip(data):
    data[60]["isthing"] = 0
  _edit_json(root, vb.CATEGORIES_JSON, flip)
  with pytest.raises(errors.UnknownCategoryError, match="person"):
    _build(root, tmp_path / "tfds")


def test_id_collision(tree, tmp_path):
  root = _copy(tree, tmp_path)
  def duplicate(data):
    segments = data["annotations"][0]["annotations"][0]["segments_info"]
    segments.append(dict(segments[-1]))
  _edit_json(root, "panoptic_gt_VIPSeg_train.json", duplicate)
  with pytest.raises(errors.IdCollisionError, match="00000000.png.*twice"):
    _build(root, tmp_path / "tfds")


def test_segment_missing_from_json(tree, tmp_path):
  root = _copy(tree, tmp_path)
  def drop(data):
    data["annotations"][0]["annotations"][2]["segments_info"].pop(0)
  _edit_json(root, "panoptic_gt_VIPSeg_val.json", drop)
  with pytest.raises(errors.BadLabelValueError,
                     match="00000002.png has segment ids .* does not list"):
    _build(root, tmp_path / "tfds")


def test_missing_video_dir(tree, tmp_path):
  root = _copy(tree, tmp_path)
  video = SPEC.video_names("val")[0]
  shutil.rmtree(root / "images" / video)
  with pytest.raises(errors.MissingSplitError, match=f"images/{video}"):
    _build(root, tmp_path / "tfds")
