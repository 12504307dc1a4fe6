"""The COCO 2017 instance and panoptic builders on a generated tree: round trips, named errors."""
import os

import numpy as np
import pytest
from PIL import Image as PILImage

from tests.datasets import builders
from video_knet_jax.datasets import errors as shared_errors
from video_knet_jax.datasets import facts as facts_registry
from video_knet_jax.datasets.coco import annotations
from video_knet_jax.datasets.coco import coco_instances_dataset_builder as instances_builder
from video_knet_jax.datasets.coco import coco_panoptic_dataset_builder as panoptic_builder
from video_knet_jax.datasets.coco import errors
from video_knet_jax.datasets.coco import facts as coco_facts
from video_knet_jax.datasets.coco import generate
from video_knet_jax.datasets.kitti_step import label_codec

SPEC = generate.CocoSpec(seed=1, num_train=4, num_val=1, height=40, width=60)
PANOPTIC_SPEC = generate.CocoPanopticSpec(**vars(SPEC))
INSTANCES_JSON = "annotations/instances_{split}2017.json"
PANOPTIC_JSON = "annotations/panoptic_{split}2017.json"


def _build_instances(root, tmp_path):
  config = instances_builder.CocoInstancesConfig(name="tiny", facts=SPEC.facts())
  return builders.prepare(instances_builder.Builder, config, root, tmp_path / "tfds_i")


def _build_panoptic(root, tmp_path):
  config = panoptic_builder.CocoPanopticConfig(name="tiny", facts=PANOPTIC_SPEC.facts())
  return builders.prepare(panoptic_builder.Builder, config, root, tmp_path / "tfds_p")


def test_instances_round_trip_every_encoding(tmp_path):
  root = generate.write_tree(tmp_path / "coco", SPEC)
  builder = _build_instances(root, tmp_path)
  label_of = coco_facts.class_index(coco_facts.THING_CATEGORIES)
  encodings = set()
  for split, count in SPEC.counts().items():
    examples = builders.read_split(builder, split, skip=("image",))
    decoded = builders.read_split(builder, split)
    assert [int(x["image_id"]) for x in examples] == [generate.image_id(split, i)
                                                      for i in range(count)]
    for index, (ex, full) in enumerate(zip(examples, decoded)):
      with open(os.path.join(root, ex["file_name"].decode()), "rb") as f:
        assert ex["image"] == f.read()                # JPEG bytes unchanged.
      assert full["image"].shape == (SPEC.height, SPEC.width, 3)   # grayscale too.
      _, _, things = generate.render(SPEC, split, index)
      assert ex["labels"].tolist() == [label_of[t.category_id] for t in things]
      assert ex["is_crowd"].tolist() == [t.is_crowd for t in things]
      masks = annotations.decode_masks(ex["masks_rle"], SPEC.height, SPEC.width)
      np.testing.assert_array_equal(
          masks, np.stack([t.mask for t in things]) if things
          else np.zeros((0, SPEC.height, SPEC.width), np.uint8))
      np.testing.assert_array_equal(ex["areas"], masks.sum((1, 2)))
      for t in things:
        encodings.add("polygon" if isinstance(t.segmentation, list) else
                      "rle_" + type(t.segmentation["counts"]).__name__)
  assert encodings == {"polygon", "rle_list", "rle_str"}   # every encoding went through.
  with PILImage.open(os.path.join(root, "train2017", f"{generate.image_id('train', 2):012d}.jpg")
                     ) as img:
    assert img.mode == "L"
  assert facts_registry.facts_for_name("coco").num_things == 80


def test_panoptic_round_trip(tmp_path):
  root = generate.write_tree(tmp_path / "coco", PANOPTIC_SPEC)
  builder = _build_panoptic(root, tmp_path)
  class_of = coco_facts.class_index()
  for split, count in SPEC.counts().items():
    examples = builders.read_split(builder, split)
    assert len(examples) == count
    for index, ex in enumerate(examples):
      assert (int(ex["sequence_id"]), int(ex["frame_index"])) == (index, 0)
      _, stuff, things = generate.render(SPEC, split, index)
      semantic = np.where(stuff > 0, np.vectorize(class_of.get)(np.maximum(stuff, 1)), 255)
      track = np.zeros(stuff.shape, np.int64)
      number = 0
      for t in things:
        semantic[t.mask.astype(bool)] = class_of[t.category_id]
        if not t.is_crowd:
          number += 1
          track[t.mask.astype(bool)] = number
      got_semantic, got_track = label_codec.decode_rgb_label(ex["panoptic_label"])
      np.testing.assert_array_equal(got_semantic, semantic)
      np.testing.assert_array_equal(got_track, track)
      assert (semantic[:generate.VOID_ROWS] == 255).all()
  assert facts_registry.facts_for_name("coco_panoptic").num_stuff == 53


def _edit(root, pattern, edit, split="train"):
  builders.edit_json(os.path.join(root, pattern.format(split=split)), edit)


def _first_with(data, kind):
  return next(a for a in data["annotations"] if isinstance(a["segmentation"], kind))


INSTANCE_ERRORS = {
    "unknown category": (lambda d: d["annotations"][0].update(category_id=999),
                         errors.UnknownCategoryError, "category_id 999"),
    "odd polygon": (lambda d: _first_with(d, list)["segmentation"][0].append(3.0),
                    errors.BadSegmentationError, "polygon"),
    "rle of another size": (lambda d: _first_with(d, dict)["segmentation"].update(size=[41, 60]),
                            errors.BadSegmentationError, r"RLE of size \[41, 60\]"),
    "annotation of no image": (lambda d: d["annotations"][1].update(image_id=5),
                               errors.UnknownImageError, "names an image"),
    "duplicate annotation id": (lambda d: d["annotations"][1].update(id=d["annotations"][0]["id"]),
                                errors.IdCollisionError, "used twice"),
    # The last train image has no annotation whose RLE could disagree first.
    "image of another size": (lambda d: d["images"][-1].update(height=41),
                              errors.BadImageError, "41x60"),
    "wrong categories": (lambda d: d["categories"][0].update(name="human"),
                         errors.UnknownCategoryError, "human"),
    "no annotations list": (lambda d: d.pop("annotations"),
                            errors.BadJsonError, "'annotations'"),
}


@pytest.mark.parametrize("case", sorted(INSTANCE_ERRORS))
def test_instances_named_errors(case, tmp_path):
  edit, error, message = INSTANCE_ERRORS[case]
  root = generate.write_tree(tmp_path / "coco", SPEC)
  _edit(root, INSTANCES_JSON, edit)
  with pytest.raises(error, match=message):
    _build_instances(root, tmp_path)


def test_instances_missing_files_are_named(tmp_path):
  root = generate.write_tree(tmp_path / "coco", SPEC)
  name = f"{generate.image_id('val', 0):012d}.jpg"
  os.remove(os.path.join(root, "val2017", name))
  with pytest.raises(errors.MissingImageError, match=name):
    _build_instances(root, tmp_path)
  os.remove(os.path.join(root, INSTANCES_JSON.format(split="val")))
  with pytest.raises(errors.MissingSplitError, match="instances_val2017.json"):
    _build_instances(root, tmp_path)
  with open(os.path.join(root, INSTANCES_JSON.format(split="val")), "w") as f:
    f.write("{not json")
  with pytest.raises(errors.BadJsonError, match="Cannot read"):
    _build_instances(root, tmp_path)


def _png_path(root, split="train", index=0):
  return os.path.join(root, f"annotations/panoptic_{split}2017",
                      f"{generate.image_id(split, index):012d}.png")


def _paint_unlisted_segment(root):
  path = _png_path(root)
  with PILImage.open(path) as img:
    rgb = np.array(img)
  rgb[0, 0] = (1, 2, 3)   # a void pixel becomes id 1 + 2*256 + 3*65536, in no segments_info.
  PILImage.fromarray(rgb).save(path)


def test_panoptic_named_errors(tmp_path):
  root = generate.write_tree(tmp_path / "coco", PANOPTIC_SPEC)
  cases = [
      (lambda: _edit(root, PANOPTIC_JSON,
                     lambda d: d["annotations"][0]["segments_info"][0].update(area=1)),
       shared_errors.BadLabelValueError, "JSON area 1"),
      (lambda: _edit(root, PANOPTIC_JSON,
                     lambda d: d["annotations"][0]["segments_info"][0].update(category_id=91)),
       errors.UnknownCategoryError, "category_id 91"),
      (lambda: _paint_unlisted_segment(root), shared_errors.BadLabelValueError,
       "does not list"),
      (lambda: os.remove(_png_path(root)), errors.MissingImageError,
       os.path.basename(_png_path(root))),
      (lambda: _edit(root, PANOPTIC_JSON, lambda d: d["categories"][-1].update(isthing=1)),
       errors.UnknownCategoryError, "isthing"),
  ]
  for apply_edit, error, message in cases:
    generate.write_tree(root, PANOPTIC_SPEC)           # a fresh tree for each case.
    apply_edit()
    with pytest.raises(error, match=message):
      _build_panoptic(root, tmp_path)


def test_rle_conversion_matches_pycocotools_ann_to_rle():
  """Polygons merge as pycocotools' annToRLE; tiny parts enclose nothing."""
  parts = [[1.0, 1.0, 8.0, 1.0, 4.0, 7.0], [10.0, 2.0, 14.0, 2.0, 12.0, 6.0], [3.0, 3.0, 4.0, 4.0]]
  rle = annotations.to_rle(parts, 10, 16, "test")
  from pycocotools import mask as mask_utils  # pylint: disable=g-import-not-at-top
  want = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(parts[:2], 10, 16)))
  np.testing.assert_array_equal(annotations.decode_masks([rle], 10, 16)[0], want)
  counts = generate.uncompressed_counts(want)
  assert annotations.to_rle({"size": [10, 16], "counts": counts}, 10, 16, "test") == rle
  assert isinstance(rle, bytes)
