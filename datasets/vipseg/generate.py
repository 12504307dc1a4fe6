"""Writes a small VIPSeg_720P tree, as the data set's own scripts lay it out.

Videos are synthetic street videos (`datasets/synthetic_step`) relabelled into
VIPSeg classes. Labels go the way the data set's scripts take them: a raw
panomask value per pixel (stuff: class + 1; thing: (class + 1) * 100 +
instance; 0 = void), then `create_panoptic_video_labels.py` gives every raw
value of a video one COCO segment id kept over its frames, writes the RGB PNG
(id = R + 256 G + 65536 B) and the per-video JSON, and `splitjson.py` splits
it by train.txt / val.txt. Frames are JPEGs; the tree is written directly at
the spec's height (the data set's frames are resized to 720 by
change2_720p.py before this point).
"""
import dataclasses
import json

import numpy as np
from etils import epath
from PIL import Image as PILImage

from video_knet_jax.datasets import coco_panoptic_video
from video_knet_jax.datasets import frame_examples
from video_knet_jax.datasets.synthetic_step import generate as synthetic
from video_knet_jax.datasets.synthetic_step import spec as synthetic_spec
from video_knet_jax.datasets.vipseg import facts as facts_lib
from video_knet_jax.datasets.vipseg import vipseg_dataset_builder as builder_lib

# Synthetic (Cityscapes trainId) class -> VIPSeg class id.
TO_VIPSEG = {
    synthetic.ROAD: 18, synthetic.SIDEWALK: 19, synthetic.BUILDING: 21,
    synthetic.WALL: 0, synthetic.FENCE: 7, synthetic.POLE: 12,
    synthetic.VEGETATION: 66, synthetic.TERRAIN: 14, synthetic.SKY: 28,
    synthetic.PERSON: 60, synthetic.CAR: 48, synthetic.TRUCK: 50,
}
_SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class VipsegSpec:
  seed: int = 0
  num_train: int = 2
  num_val: int = 1
  frames_per_video: int = 4
  num_test: int = 0     # unlabelled test videos (images and test.txt only).
  height: int = 36
  width: int = 64

  def counts(self) -> dict[str, int]:
    counts = {"train": self.num_train, "val": self.num_val}
    return {**counts, "test": self.num_test} if self.num_test else counts

  def video_names(self, split: str) -> list[str]:
    first = {"train": 0, "val": self.num_train,
             "test": self.num_train + self.num_val}[split]
    return [f"{first + i}_synthetic{self.seed}"
            for i in range(self.counts()[split])]

  def facts(self) -> frame_examples.PanopticFacts:
    return dataclasses.replace(
        facts_lib.VIPSEG, name="generated_vipseg", split_videos=self.counts(),
        split_frames={s: n * self.frames_per_video
                      for s, n in self.counts().items()},
        frame_height=self.height)

  def config_name(self) -> str:
    return (f"generated_seed{self.seed}_{self.num_train}x{self.num_val}x"
            f"{self.frames_per_video}_{self.height}x{self.width}"
            + (f"_test{self.num_test}" if self.num_test else ""))


def render_video(spec: VipsegSpec, sequence: int):
  """images [T, H, W, 3] uint8, VIPSeg class [T, H, W] (255 void), instance."""
  frames = synthetic_spec.SyntheticSpec(
      seed=spec.seed, frames_per_sequence=max(3, spec.frames_per_video),
      height=spec.height, width=spec.width)
  images, semantic, instance = synthetic.render_sequence(frames, sequence)
  lut = np.full(256, facts_lib.VOID_LABEL, np.int64)
  for source, target in TO_VIPSEG.items():
    lut[source] = target
  n = spec.frames_per_video
  instance = instance[:n].astype(np.int64)
  instance[semantic[:n] == synthetic.TRUCK] = 1   # one truck instance each.
  return images[:n], lut[semantic[:n]], instance


def raw_panomask(classes: np.ndarray, instance: np.ndarray,
                 numbering: dict) -> np.ndarray:
  """VIPSeg's raw encoding; `numbering` keeps instance numbers per video."""
  raw = np.where(classes == facts_lib.VOID_LABEL, 0, classes + 1)
  pairs = np.unique(np.stack([classes.ravel(), instance.ravel()]), axis=1)
  for key in pairs.T:
    cls, ident = int(key[0]), int(key[1])
    if cls in facts_lib.THING_IDS:
      number = numbering.setdefault((cls, ident), len(numbering) + 1)
      raw[(classes == cls) & (instance == ident)] = (cls + 1) * 100 + number
  return raw


def write_tree(out_dir, spec: VipsegSpec) -> epath.Path:
  root = epath.Path(out_dir)
  root.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng([spec.seed, 11])
  used_ids = {0}
  categories = coco_panoptic_video.categories_json(facts_lib.VIPSEG)
  (root / builder_lib.CATEGORIES_JSON).write_text(json.dumps(categories))
  sequence = 0
  for split in _SPLITS:
    if split not in spec.counts():
      continue
    names = spec.video_names(split)
    (root / f"{split}.txt").write_text("".join(n + "\n" for n in names))
    videos, annotations = [], []
    for video in names:
      images, classes, instance = render_video(spec, sequence)
      sequence += 1
      image_dir = root / builder_lib.IMAGE_DIR / video
      label_dir = root / builder_lib.LABEL_DIR / video
      image_dir.mkdir(parents=True, exist_ok=True)
      if split != "test":
        label_dir.mkdir(parents=True, exist_ok=True)
      numbering, segment_of = {}, {}
      image_entries, frame_annotations = [], []
      for t in range(spec.frames_per_video):
        stem = f"{t:08d}"
        PILImage.fromarray(images[t]).save(image_dir / f"{stem}.jpg",
                                           quality=95)
        if split == "test":
          continue          # test: images only (no panomasks, no JSON).
        raw = raw_panomask(classes[t], instance[t], numbering)
        ids, segments = _segments(raw, segment_of, used_ids, rng)
        PILImage.fromarray(coco_panoptic_video.id_to_rgb(ids)).save(
            label_dir / f"{stem}.png")
        image_entries.append({"id": stem, "width": spec.width,
                              "height": spec.height,
                              "file_name": f"{stem}.png"})
        frame_annotations.append({"image_id": stem, "file_name": f"{stem}.png",
                                  "segments_info": segments})
      videos.append({"video_id": video, "images": image_entries})
      annotations.append({"video_id": video, "annotations": frame_annotations})
    if split == "test":
      continue
    (root / f"panoptic_gt_VIPSeg_{split}.json").write_text(json.dumps(
        {"videos": videos, "annotations": annotations,
         "categories": categories}))
  return root


def _segments(raw, segment_of, used_ids, rng):
  """Raw panomask -> COCO ids and JSON segments (create_panoptic_video_labels):
  raw 0 is void, c + 1 a stuff class c, (c + 1) * 100 + k instance k of c."""
  return coco_panoptic_video.encode_segments(
      raw, lambda v: None if v == 0 else (v if v < 125 else v // 100) - 1,
      lambda v: False, segment_of, used_ids, rng)
