"""The KITTI-STEP builder: both layouts, id round trip, facts, bad inputs."""
import dataclasses
import io
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from video_knet_jax.datasets.kitti_step import errors
from video_knet_jax.datasets.kitti_step import facts as facts_lib
from video_knet_jax.datasets.kitti_step import kitti_step_dataset_builder as kb
from video_knet_jax.datasets.kitti_step import label_codec
from video_knet_jax.datasets.kitti_step import layout
from video_knet_jax.datasets.synthetic_step import generate


def _decode_png(data):
  return np.asarray(Image.open(io.BytesIO(data)))


def test_both_layouts_read_to_identical_examples(tmp_path, tiny_spec, step):
  deeplab2 = generate.write_tree(tmp_path / "d2", tiny_spec, layout.DEEPLAB2)
  video_knet = generate.write_tree(tmp_path / "vk", tiny_spec, layout.VIDEO_KNET)
  assert (deeplab2 / "images/train/0001/000003.png").exists()
  assert (video_knet / "video_sequence/val/001000_000000_panoptic.png").exists()
  a = step.build(deeplab2, tmp_path / "tfds_d2")
  b = step.build(video_knet, tmp_path / "tfds_vk")
  for split, n in (("train", 8), ("val", 4)):
    ex_a, ex_b = step.read_split(a, split, raw=True), step.read_split(b, split, raw=True)
    assert len(ex_a) == len(ex_b) == n
    for x, y in zip(ex_a, ex_b):
      for key in ("image", "panoptic_label", "sequence_id", "frame_index",
                  "has_label"):
        assert x[key] == y[key], key
      np.testing.assert_array_equal(x["thing_ids"], y["thing_ids"])
    # Stored in (sequence, frame) order.
    order = [(int(x["sequence_id"]), int(x["frame_index"])) for x in ex_a]
    assert order == sorted(order)


def test_panoptic_ids_round_trip(tmp_path, tiny_spec, step):
  root = generate.write_tree(tmp_path / "raw", tiny_spec)
  builder = step.build(root, tmp_path / "tfds")
  examples = step.read_split(builder, "val")
  images, semantic, instance = generate.render_sequence(tiny_spec, tiny_spec.first_val_sequence)
  assert [int(x["frame_index"]) for x in examples] == [0, 1, 2, 3]
  for t, ex in enumerate(examples):
    np.testing.assert_array_equal(ex["image"], images[t])
    sem, ins = label_codec.decode_rgb_label(ex["panoptic_label"])
    np.testing.assert_array_equal(
        label_codec.panoptic_ids(sem, ins),
        semantic[t].astype(np.int32) * 1000 + instance[t])
    thing = np.isin(semantic[t], (11, 13)) & (instance[t] > 0)
    expected = np.unique(semantic[t][thing].astype(np.int32) * 1000
                         + instance[t][thing])
    np.testing.assert_array_equal(ex["thing_ids"], expected)
  # Instance ids above 255 use the G channel; the generator draws such ids.
  assert instance.max() > 255


def test_label_codec_g_and_b_channels():
  sem = np.array([[11, 255]])
  ins = np.array([[513, 0]])   # 513 = 2 * 256 + 1.
  rgb = label_codec.encode_rgb_label(sem, ins)
  np.testing.assert_array_equal(rgb, [[[11, 2, 1], [255, 0, 0]]])
  s, i = label_codec.decode_rgb_label(rgb)
  np.testing.assert_array_equal(s, sem)
  np.testing.assert_array_equal(i, ins)


def test_kitti_step_facts():
  f = facts_lib.KITTI_STEP
  assert f.num_classes == 19
  assert [f.class_names[i] for i in f.thing_ids] == ["person", "car"]
  assert len(f.stuff_ids) == 17 and 11 not in f.stuff_ids
  assert not set(f.split_sequences["train"]) & set(f.split_sequences["val"])
  assert sorted(f.split_sequences["train"] + f.split_sequences["val"]) == list(
      range(21))
  assert f.split_frames["train"] + f.split_frames["val"] == 8008
  assert f.labelled_splits == ("train", "val")


def test_unlabelled_split_has_void_labels(tmp_path, tiny_spec, step):
  root = generate.write_tree(tmp_path / "raw", tiny_spec)
  for path in (root / "panoptic_maps" / "val").glob("*/*.png"):
    path.unlink()
  base = tiny_spec.facts()
  facts = dataclasses.replace(base, labelled_splits=("train",))
  builder = step.build(root, tmp_path / "tfds", facts=facts)
  ex = step.read_split(builder, "val")[0]
  assert not ex["has_label"] and ex["thing_ids"].size == 0
  sem, ins = label_codec.decode_rgb_label(ex["panoptic_label"])
  assert (sem == 255).all() and (ins == 0).all()
  assert sem.shape == ex["image"].shape[:2]


# ------------------------------------------------------------- bad inputs


def _fresh_tree(tmp_path, spec):
  return generate.write_tree(tmp_path / "raw", spec)


def test_missing_manual_dir(tmp_path, step):
  with pytest.raises(errors.MissingManualDirError, match="nowhere") as e:
    step.build(tmp_path / "nowhere", tmp_path / "tfds")
  assert "panoptic_maps/{train,val}" in str(e.value)   # the instructions.
  (tmp_path / "empty").mkdir()
  with pytest.raises(errors.MissingManualDirError, match="empty"):
    step.build(tmp_path / "empty", tmp_path / "tfds")
  (tmp_path / "other" / "stuff").mkdir(parents=True)
  with pytest.raises(errors.MissingManualDirError, match="neither"):
    step.build(tmp_path / "other", tmp_path / "tfds")


def test_missing_split(tmp_path, tiny_spec, step):
  root = _fresh_tree(tmp_path, tiny_spec)
  shutil.rmtree(root / "images" / "val")
  with pytest.raises(errors.MissingSplitError, match=r"images/val"):
    step.build(root, tmp_path / "tfds")


def test_missing_sequence_and_frame_count(tmp_path, tiny_spec, step):
  root = _fresh_tree(tmp_path, tiny_spec)
  (root / "images/train/0001/000003.png").unlink()
  (root / "panoptic_maps/train/0001/000003.png").unlink()
  with pytest.raises(errors.MissingSplitError, match="found 7 frames"):
    step.build(root, tmp_path / "tfds")


def test_corrupt_png(tmp_path, tiny_spec, step):
  root = _fresh_tree(tmp_path, tiny_spec)
  path = root / "images/train/0000/000002.png"
  path.write_bytes(path.read_bytes()[:200])
  with pytest.raises(errors.BadPngError, match="0000/000002.png"):
    step.build(root, tmp_path / "tfds")


def test_wrongly_shaped_png(tmp_path, tiny_spec, step):
  root = _fresh_tree(tmp_path, tiny_spec)
  path = root / "panoptic_maps/train/0001/000001.png"
  Image.open(path).crop((0, 0, 40, 30)).save(path)
  with pytest.raises(errors.BadPngError, match="panoptic_maps/train/0001/000001.png"):
    step.build(root, tmp_path / "tfds")


def test_grayscale_image_png(tmp_path, tiny_spec, step):
  root = _fresh_tree(tmp_path, tiny_spec)
  path = root / "images/val/1000/000000.png"
  Image.open(path).convert("L").save(path)
  with pytest.raises(errors.BadPngError, match="mode L"):
    step.build(root, tmp_path / "tfds")


def test_image_without_label(tmp_path, tiny_spec, step):
  root = _fresh_tree(tmp_path, tiny_spec)
  (root / "panoptic_maps/train/0000/000001.png").unlink()
  with pytest.raises(errors.MissingLabelError, match="images/train/0000/000001.png"):
    step.build(root, tmp_path / "tfds")


def test_label_without_image_video_knet_layout(tmp_path, tiny_spec, step):
  root = generate.write_tree(tmp_path / "raw", tiny_spec, layout.VIDEO_KNET)
  (root / "video_sequence/train/000000_000001_leftImg8bit.png").unlink()
  with pytest.raises(errors.MissingLabelError, match="000000_000001_panoptic.png"):
    step.build(root, tmp_path / "tfds")


@pytest.mark.parametrize("value", [19, 254])
def test_label_value_outside_range(tmp_path, tiny_spec, step, value):
  root = _fresh_tree(tmp_path, tiny_spec)
  path = root / "panoptic_maps/val/1000/000003.png"
  rgb = np.array(Image.open(path))
  rgb[5, 7] = (value, 0, 0)
  Image.fromarray(rgb).save(path)
  with pytest.raises(errors.BadLabelValueError,
                     match=rf"1000/000003.png has semantic ids \[{value}\]"):
    step.build(root, tmp_path / "tfds")


def test_real_kitti_step_config_checks_membership(tmp_path, tiny_spec):
  """A tree that is not KITTI-STEP fails on the real facts, naming them."""
  root = _fresh_tree(tmp_path, tiny_spec)
  builder = kb.Builder(config="kitti_step", data_dir=str(tmp_path / "tfds"))
  assert builder.builder_config.facts is facts_lib.KITTI_STEP
  with pytest.raises(errors.MissingSplitError,
                     match=r"Split 'train'.*missing \[3, 4, 5"):
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(root)))
