"""Facts about a STEP-format data set, kept in one frozen record.

KITTI-STEP numbers come from DeepLab2's KITTI-STEP setup and Video K-Net's
preparation script (see docs/DATA.md). The synthetic set builds its own record
with `datasets.synthetic_step.facts.synthetic_facts`.
"""
import dataclasses
from typing import Mapping

# Cityscapes trainIds, the label space of KITTI-STEP (R channel of a label PNG).
CITYSCAPES_CLASS_NAMES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
    "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck", "bus", "train", "motorcycle", "bicycle")
VOID_LABEL = 255
# Panoptic ids outside the PNGs: semantic * PANOPTIC_DIVISOR + instance.
PANOPTIC_DIVISOR = 1000


@dataclasses.dataclass(frozen=True)
class StepFacts:
  """What a STEP-format data set is made of.

  Attributes:
    name: short name, used in error messages.
    class_names: one name per semantic id 0..num_classes-1.
    thing_train_ids: semantic ids that carry track ids (model class order).
    void_label: the semantic id of unlabelled pixels.
    split_sequences: split name -> sequence ids it must contain.
    split_frames: split name -> total number of frames it must contain.
    labelled_splits: splits that come with panoptic label PNGs.
  """
  name: str
  class_names: tuple[str, ...]
  thing_train_ids: tuple[int, ...]
  void_label: int
  split_sequences: Mapping[str, tuple[int, ...]]
  split_frames: Mapping[str, int]
  labelled_splits: tuple[str, ...]

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  @property
  def stuff_train_ids(self) -> tuple[int, ...]:
    """Stuff ids in increasing order: model classes num_things.. of the paper."""
    return tuple(c for c in range(self.num_classes)
                 if c not in self.thing_train_ids)

  @property
  def splits(self) -> tuple[str, ...]:
    return tuple(self.split_sequences)

  def valid_label_values(self) -> frozenset[int]:
    return frozenset(range(self.num_classes)) | {self.void_label}


KITTI_STEP = StepFacts(
    name="kitti_step",
    class_names=CITYSCAPES_CLASS_NAMES,
    thing_train_ids=(11, 13),    # person, car.
    void_label=VOID_LABEL,
    split_sequences={
        "train": (0, 1, 3, 4, 5, 9, 11, 12, 15, 17, 19, 20),
        "val": (2, 6, 7, 8, 10, 13, 14, 16, 18),
        "test": tuple(range(29)),
    },
    split_frames={"train": 5027, "val": 2981, "test": 11095},
    labelled_splits=("train", "val"),
)
