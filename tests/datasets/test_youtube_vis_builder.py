"""The YouTube-VIS builder on a generated tree: round trip and named errors."""
import os

import numpy as np
import pytest

from tests.datasets import builders
from video_knet_jax.datasets import facts as facts_registry
from video_knet_jax.datasets.youtube_vis import errors
from video_knet_jax.datasets.youtube_vis import generate
from video_knet_jax.datasets.youtube_vis import youtube_vis_dataset_builder as yb

SPEC = generate.YouTubeVisSpec(seed=1, num_videos=3, frames_per_video=3,
                               height=24, width=40)
JSON = "annotations/youtube_vis_2019_train.json"


def _build(manual_dir, data_dir, val_every=3):
  return builders.prepare(
      yb.Builder, yb.YouTubeVisConfig(name="tiny", val_every=val_every),
      manual_dir, data_dir)


def _read(builder, split):
  return builders.read_split(builder, split, skip=("image",))


def _edit_json(root, edit):
  builders.edit_json(os.path.join(root, JSON), edit)


def test_round_trip_every_encoding(tmp_path):
  root = generate.write_tree(tmp_path / "raw", SPEC)
  data = generate.annotations_json(SPEC)
  # The generated JSON holds every encoding the real one does.
  segs = [s for a in data["annotations"] for s in a["segmentations"]]
  assert any(s is None for s in segs)
  assert any(isinstance(s, list) for s in segs)
  assert any(isinstance(s, dict) and isinstance(s["counts"], str) for s in segs)
  assert any(isinstance(s, dict) and isinstance(s["counts"], list) for s in segs)
  assert any(a["iscrowd"] for a in data["annotations"])

  builder = _build(root, tmp_path / "tfds")
  assert builder.info.splits["train"].num_examples == 2 * 3
  assert builder.info.splits["val"].num_examples == 3
  for split, videos in (("train", (0, 1)), ("val", (2,))):
    examples = _read(builder, split)
    for v in videos:
      frames = [x for x in examples if x["video_id"] == v + 1]
      assert [int(x["frame_index"]) for x in frames] == [0, 1, 2]
      _, instances, _ = generate.render_video(SPEC, v)
      for t, ex in enumerate(frames):
        path = os.path.join(root, ex["file_name"].decode())
        with open(path, "rb") as f:
          assert ex["image"] == f.read()          # JPEG bytes unchanged.
        present = [i for i in instances if i.masks[t] is not None]
        assert ex["instance_ids"].tolist() == [i.instance_id for i in present]
        assert ex["labels"].tolist() == [i.label for i in present]
        assert ex["is_crowd"].tolist() == [i.is_crowd for i in present]
        np.testing.assert_array_equal(
            ex["masks"], np.stack([i.masks[t] for i in present]))
  assert facts_registry.facts_for_name("youtube_vis").num_things == 40


def test_entry_without_its_frames(tmp_path):
  root = generate.write_tree(tmp_path / "raw", SPEC)
  name = generate.annotations_json(SPEC)["videos"][1]["file_names"][2]
  os.remove(os.path.join(root, "train", "JPEGImages", name))
  with pytest.raises(errors.MissingFramesError, match=name):
    _build(root, tmp_path / "tfds")


def test_segmentation_of_the_wrong_size(tmp_path):
  root = generate.write_tree(tmp_path / "raw", SPEC)

  def edit(data):
    ann = data["annotations"][0]    # Ellipse: a compressed RLE per frame.
    ann["segmentations"][1]["size"] = [SPEC.height + 1, SPEC.width]
  _edit_json(root, edit)
  with pytest.raises(errors.BadSegmentationError,
                     match=r"annotation 1, frame 1 .*RLE of size \[25, 40\]"):
    _build(root, tmp_path / "tfds")


def test_unknown_category(tmp_path):
  root = generate.write_tree(tmp_path / "raw", SPEC)

  def edit(data):
    data["annotations"][2]["category_id"] = 41
  _edit_json(root, edit)
  with pytest.raises(errors.UnknownCategoryError, match="category_id 41"):
    _build(root, tmp_path / "tfds")
