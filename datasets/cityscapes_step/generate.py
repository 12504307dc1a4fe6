"""Writes a small Cityscapes tree (fine images + trainId PNGs) for tests.

The pictures are single frames of the synthetic street videos
(`datasets/synthetic_step`); the files are what cityscapesscripts leaves on
disk: `leftImg8bit/{split}/<city>/<city>_<seq>_<frame>_leftImg8bit.png` (RGB),
`gtFine/.../<stem>_gtFine_labelTrainIds.png` (8-bit, 255 = ignore) and
`gtFine/.../<stem>_gtFine_instanceTrainIds.png` (16-bit: trainId * 1000 + k
for the k-th instance of a thing class in the image, trainId otherwise).
Cityscapes has eight thing classes; the synthetic trucks are written as a
truck instance, which Cityscapes-STEP must read as stuff.
"""
import dataclasses

import numpy as np
from etils import epath
from PIL import Image as PILImage

from video_knet_jax.datasets import frame_examples
from video_knet_jax.datasets.cityscapes_step import facts as facts_lib
from video_knet_jax.datasets.synthetic_step import generate as synthetic
from video_knet_jax.datasets.synthetic_step import spec as synthetic_spec

CITIES = {"train": "aachen", "val": "frankfurt", "test": "berlin"}
_FIRST_SEQUENCE = {"train": 0, "val": 1000, "test": 2000}
_CITYSCAPES_THINGS = tuple(range(11, 19))   # person .. bicycle.
FINE_FRAME = 19   # Cityscapes' annotated frame of each 30-frame snippet.


@dataclasses.dataclass(frozen=True)
class CityscapesStepSpec:
  """How many images of which size `write_tree` writes per split."""
  seed: int = 0
  num_train: int = 4
  num_val: int = 2
  num_test: int = 1
  height: int = 64
  width: int = 128

  def counts(self) -> dict[str, int]:
    return {"train": self.num_train, "val": self.num_val,
            "test": self.num_test}

  def facts(self) -> frame_examples.PanopticFacts:
    return dataclasses.replace(facts_lib.CITYSCAPES_STEP,
                               name="generated_cityscapes_step",
                               split_videos=self.counts(),
                               split_frames=self.counts())

  def config_name(self) -> str:
    return (f"generated_seed{self.seed}_{self.num_train}x{self.num_val}x"
            f"{self.num_test}_{self.height}x{self.width}")


def render_image(spec: CityscapesStepSpec, split: str, index: int):
  """(image [H, W, 3] uint8, trainIds [H, W] uint8, instanceTrainIds [H, W])."""
  frames = synthetic_spec.SyntheticSpec(
      seed=spec.seed, frames_per_sequence=3, height=spec.height,
      width=spec.width)
  images, semantic, instance = synthetic.render_sequence(
      frames, _FIRST_SEQUENCE[split] + index)
  semantic, instance = semantic[0].astype(np.int64), instance[0]
  encoded = semantic.copy()
  for cls in _CITYSCAPES_THINGS:
    ids = np.unique(instance[(semantic == cls) & (instance > 0)])
    for k, ident in enumerate(ids):
      encoded[(semantic == cls) & (instance == ident)] = (
          cls * facts_lib.INSTANCE_DIVISOR + k)
  truck = semantic == synthetic.TRUCK
  encoded[truck] = synthetic.TRUCK * facts_lib.INSTANCE_DIVISOR
  return images[0], semantic.astype(np.uint8), encoded


def paths(root: epath.Path, split: str, index: int):
  city = CITIES[split]
  stem = f"{city}_{index:06d}_{FINE_FRAME:06d}"
  gt = root / "gtFine" / split / city
  return (root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png",
          gt / f"{stem}_gtFine_labelTrainIds.png",
          gt / f"{stem}_gtFine_instanceTrainIds.png")


def write_tree(out_dir, spec: CityscapesStepSpec) -> epath.Path:
  """Writes the tree under `out_dir` (test split without gtFine)."""
  root = epath.Path(out_dir)
  root.mkdir(parents=True, exist_ok=True)
  (root / "license.txt").write_text("Generated test data, not Cityscapes.\n")
  for split, count in spec.counts().items():
    for index in range(count):
      image, train_ids, instance_ids = render_image(spec, split, index)
      image_path, label_path, instance_path = paths(root, split, index)
      image_path.parent.mkdir(parents=True, exist_ok=True)
      PILImage.fromarray(image).save(image_path, compress_level=1)
      if split == "test":
        continue
      label_path.parent.mkdir(parents=True, exist_ok=True)
      PILImage.fromarray(train_ids).save(label_path, compress_level=1)
      PILImage.fromarray(instance_ids.astype(np.uint16)).save(
          instance_path, compress_level=1)
  return root
