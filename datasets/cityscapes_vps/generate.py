"""Writes a small Cityscapes-VPS tree, exactly as mcahny/vps's scripts lay it out.

Videos are synthetic street videos (`datasets/synthetic_step`) of 30 frames;
frames 4, 9, ..., 29 are labelled and frame 19 is the `_leftImg8bit` one.
Labels follow `prepare_data/create_panoptic_video_labels.py`: the
intermediate map is trainId (stuff and crowd) or trainId * 1000 + instance
(things), each value of a video gets one random COCO segment id kept over
its frames, the PNG holds id = R + 256 G + 65536 B (0 = void), and the JSON
lists `{id, category_id, iscrowd, area}` per frame. The synthetic trucks have
no instance ids, so they come out as crowd segments of a thing class.
"""
import dataclasses
import json

import numpy as np
from etils import epath
from PIL import Image as PILImage

from video_knet_jax.datasets import coco_panoptic_video
from video_knet_jax.datasets import frame_examples
from video_knet_jax.datasets.cityscapes_vps import cityscapes_vps_dataset_builder as builder_lib
from video_knet_jax.datasets.cityscapes_vps import facts as facts_lib
from video_knet_jax.datasets.kitti_step import facts as step_facts
from video_knet_jax.datasets.synthetic_step import generate as synthetic
from video_knet_jax.datasets.synthetic_step import spec as synthetic_spec

CITY = "frankfurt"
_SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class CityscapesVpsSpec:
  """How many 30-frame videos of which size `write_tree` writes per split."""
  seed: int = 0
  num_train: int = 2
  num_val: int = 1
  num_test: int = 1
  height: int = 32
  width: int = 64

  def counts(self) -> dict[str, int]:
    return {"train": self.num_train, "val": self.num_val,
            "test": self.num_test}

  def videos(self, split: str) -> tuple[int, ...]:
    """1-based video numbers: train first, then val, then test."""
    first = 1 + sum(self.counts()[s] for s in _SPLITS[:_SPLITS.index(split)])
    return tuple(range(first, first + self.counts()[split]))

  def facts(self) -> frame_examples.PanopticFacts:
    per_video = {"train": len(facts_lib.labelled_frame_indices()),
                 "val": facts_lib.FRAMES_PER_VIDEO,
                 "test": facts_lib.FRAMES_PER_VIDEO}
    return dataclasses.replace(
        facts_lib.CITYSCAPES_VPS, name="generated_cityscapes_vps",
        split_videos=self.counts(),
        split_frames={s: n * per_video[s] for s, n in self.counts().items()})

  def config_name(self) -> str:
    return (f"generated_seed{self.seed}_{self.num_train}x{self.num_val}x"
            f"{self.num_test}_{self.height}x{self.width}")


def render_video(spec: CityscapesVpsSpec, video: int):
  """images [30, H, W, 3] uint8, semantic [30, H, W], instance [30, H, W]."""
  frames = synthetic_spec.SyntheticSpec(
      seed=spec.seed, frames_per_sequence=facts_lib.FRAMES_PER_VIDEO,
      height=spec.height, width=spec.width)
  return synthetic.render_sequence(frames, video)


def image_name(video: int, counter: int, frame_index: int) -> str:
  number = 1000 * video + frame_index   # Cityscapes frame number.
  suffix = ("leftImg8bit" if frame_index == facts_lib.FINE_FRAME_INDEX
            else "newImg8bit")
  return f"{video:04d}_{counter:04d}_{CITY}_{video:06d}_{number:06d}_{suffix}.png"


def write_tree(out_dir, spec: CityscapesVpsSpec) -> epath.Path:
  root = epath.Path(out_dir)
  root.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng([spec.seed, 7])
  used_ids = {0}
  labelled = facts_lib.labelled_frame_indices()
  for split in _SPLITS:
    image_dir = root / split / builder_lib.IMAGE_DIRS[split]
    label_dir = root / split / "panoptic_video"
    image_dir.mkdir(parents=True, exist_ok=True)
    images_json, annotations_json = [], []
    for video in spec.videos(split):
      images, semantic, instance = render_video(spec, video)
      segment_of = {}   # intermediate value -> COCO id, one per video.
      for t in range(facts_lib.FRAMES_PER_VIDEO):
        if split == "train" and t not in labelled:
          continue   # train ships its labelled frames only.
        counter = ((video - 1) * len(labelled) + labelled.index(t) + 1
                   if split == "train"
                   else (video - 1) * facts_lib.FRAMES_PER_VIDEO + t + 1)
        name = image_name(video, counter, t)
        PILImage.fromarray(images[t]).save(image_dir / name, compress_level=1)
        if split == "test" or t not in labelled:
          continue
        ids, segments = _segments(semantic[t], instance[t], segment_of,
                                  used_ids, rng)
        label_dir.mkdir(parents=True, exist_ok=True)
        label_file = builder_lib.label_name(name)
        PILImage.fromarray(coco_panoptic_video.id_to_rgb(ids)).save(
            label_dir / label_file, compress_level=1)
        image_id = label_file.rsplit("_", 2)[0]
        images_json.append({"id": image_id, "width": spec.width,
                            "height": spec.height, "file_name": name})
        annotations_json.append({"image_id": image_id, "file_name": label_file,
                                 "segments_info": segments})
    if split != "test":
      (root / f"panoptic_gt_{split}_city_vps.json").write_text(json.dumps({
          "images": images_json, "annotations": annotations_json,
          "categories": coco_panoptic_video.categories_json(
              facts_lib.CITYSCAPES_VPS)}))
  return root


def _segments(semantic, instance, segment_of, used_ids, rng):
  """[H, W] COCO ids and the JSON segments of one labelled frame: a segment
  per trainId (stuff; thing pixels without an instance are crowd) and per
  trainId * 1000 + instance (things); void stays 0."""
  divisor = step_facts.PANOPTIC_DIVISOR
  semantic = semantic.astype(np.int64)
  value = np.where(instance > 0, semantic * divisor + instance, semantic)

  def category(v):
    c = v // divisor if v >= divisor else v
    return None if c == step_facts.VOID_LABEL else c

  def is_crowd(v):
    return v < divisor and v in facts_lib.CITYSCAPES_VPS.thing_ids

  return coco_panoptic_video.encode_segments(value, category, is_crowd,
                                             segment_of, used_ids, rng)
