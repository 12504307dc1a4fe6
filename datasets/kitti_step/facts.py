"""Facts about a STEP-format data set: its label space plus its splits.

KITTI-STEP numbers come from DeepLab2's KITTI-STEP setup and Video K-Net's
preparation script (see docs/DATA.md). The synthetic set builds its own record
with `datasets.synthetic_step.spec.SyntheticSpec.facts`.
"""
import dataclasses
from typing import Mapping

from video_knet_jax.datasets import cityscapes_labels
from video_knet_jax.datasets import facts as facts_lib

# Cityscapes trainIds, the label space of KITTI-STEP (R channel of a label PNG).
CITYSCAPES_CLASS_NAMES = cityscapes_labels.CLASS_NAMES
VOID_LABEL = cityscapes_labels.VOID_LABEL
# Panoptic ids outside the PNGs: semantic * PANOPTIC_DIVISOR + instance.
PANOPTIC_DIVISOR = 1000


@dataclasses.dataclass(frozen=True, kw_only=True)
class StepFacts(facts_lib.DatasetFacts):
  """A STEP-format data set: the label space (DatasetFacts) and its splits.

  Attributes (besides DatasetFacts'):
    split_sequences: split name -> sequence ids it must contain.
    split_frames: split name -> total number of frames it must contain.
    labelled_splits: splits that come with panoptic label PNGs.
  """
  split_sequences: Mapping[str, tuple[int, ...]]
  split_frames: Mapping[str, int]
  labelled_splits: tuple[str, ...]

  @property
  def splits(self) -> tuple[str, ...]:
    return tuple(self.split_sequences)


KITTI_STEP = StepFacts(
    name="kitti_step",
    class_names=CITYSCAPES_CLASS_NAMES,
    thing_ids=(11, 13),    # person, car.
    void_label=VOID_LABEL,
    label_divisor=PANOPTIC_DIVISOR,
    colors=cityscapes_labels.COLORS,
    split_sequences={
        "train": (0, 1, 3, 4, 5, 9, 11, 12, 15, 17, 19, 20),
        "val": (2, 6, 7, 8, 10, 13, 14, 16, 18),
        "test": tuple(range(29)),
    },
    split_frames={"train": 5027, "val": 2981, "test": 11095},
    labelled_splits=("train", "val"),
)
