"""Size and seed of a generated synthetic STEP set, and the facts it implies."""
import dataclasses
from typing import Any, Mapping

from video_knet_jax.datasets import facts as dataset_facts
from video_knet_jax.datasets.kitti_step import facts as facts_lib

# Bump when the generator's output changes, so cached builds are not reused.
# 2: val sequences start at first_val_sequence, not after the train sequences.
GENERATOR_VERSION = 2

# The generated set draws KITTI-STEP's label space (config.data.name
# 'synthetic_step' in datasets/facts.py).
LABEL_SPACE = dataset_facts.DatasetFacts(
    name="synthetic_step",
    class_names=facts_lib.KITTI_STEP.class_names,
    thing_ids=facts_lib.KITTI_STEP.thing_ids,
    void_label=facts_lib.KITTI_STEP.void_label,
    label_divisor=facts_lib.KITTI_STEP.label_divisor,
    colors=facts_lib.KITTI_STEP.colors)


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
  """What `generate.write_tree` writes: train sequences 0, 1, ... and val
  sequences first_val_sequence, first_val_sequence + 1, ...; with
  `num_test_sequences`, an unlabelled test split (images only, as KITTI-STEP's
  test split) of the sequences right after val.

  Val ids do not depend on num_train_sequences, so recipes with more or fewer
  training videos are scored on the same videos; another first_val_sequence
  gives a disjoint held-out set (for choosing settings without touching val).
  """
  seed: int = 0
  num_train_sequences: int = 12
  num_val_sequences: int = 4
  first_val_sequence: int = 1000
  frames_per_sequence: int = 24
  height: int = 128
  width: int = 384
  num_test_sequences: int = 0

  @classmethod
  def from_dict(cls, values: Mapping[str, Any]) -> "SyntheticSpec":
    """Builds a spec from `config.data.synthetic`, naming unknown fields."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
      raise ValueError(f"config.data.synthetic has unknown fields {unknown}; "
                       f"known: {sorted(known)}.")
    return cls(**{k: int(v) for k, v in values.items()})

  def __post_init__(self):
    for field in dataclasses.fields(self):
      value = getattr(self, field.name)
      minimum = 0 if field.name in ("seed", "num_test_sequences") else 1
      if value < minimum:
        raise ValueError(f"config.data.synthetic.{field.name}={value} must "
                         f"be >= {minimum}.")
    if self.frames_per_sequence < 3:
      raise ValueError("config.data.synthetic.frames_per_sequence must be >= 3 "
                       "so that every frame has a reference frame.")
    if self.num_train_sequences > self.first_val_sequence:
      raise ValueError(
          f"config.data.synthetic.num_train_sequences={self.num_train_sequences} "
          f"must be <= first_val_sequence={self.first_val_sequence}: train "
          "sequences are 0, 1, ... and must not reach the val ids.")
    if self.height < 32 or self.width < 32:
      raise ValueError("config.data.synthetic height and width must be >= 32.")

  def split_sequences(self) -> dict[str, tuple[int, ...]]:
    end_of_val = self.first_val_sequence + self.num_val_sequences
    splits = {
        "train": tuple(range(self.num_train_sequences)),
        "val": tuple(range(self.first_val_sequence, end_of_val)),
    }
    if self.num_test_sequences:
      splits["test"] = tuple(range(end_of_val,
                                   end_of_val + self.num_test_sequences))
    return splits

  def facts(self) -> facts_lib.StepFacts:
    """The frozen record the KITTI-STEP builder checks the tree against."""
    sequences = self.split_sequences()
    return facts_lib.StepFacts(
        name=LABEL_SPACE.name,
        class_names=LABEL_SPACE.class_names,
        thing_ids=LABEL_SPACE.thing_ids,
        void_label=LABEL_SPACE.void_label,
        label_divisor=LABEL_SPACE.label_divisor,
        colors=LABEL_SPACE.colors,
        split_sequences=sequences,
        split_frames={split: len(seqs) * self.frames_per_sequence
                      for split, seqs in sequences.items()},
        labelled_splits=("train", "val"),
    )

  def config_name(self) -> str:
    """A TFDS config name that differs whenever the generated data differs."""
    return (f"synthetic_v{GENERATOR_VERSION}_seed{self.seed}_"
            f"{self.num_train_sequences}x{self.num_val_sequences}x"
            f"{self.frames_per_sequence}_{self.height}x{self.width}_"
            f"val{self.first_val_sequence}"
            + (f"_test{self.num_test_sequences}" if self.num_test_sequences
               else ""))
