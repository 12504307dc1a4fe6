"""The label space of a data set, as one frozen record every data set provides.

Everything outside `datasets/` that needs to know classes, things, the void
label, the panoptic id encoding or class colours reads it from a
`DatasetFacts`, found by `facts_for_config(config)` from `config.data.name`.

Model class order (the original's): the thing classes in `thing_ids` order,
then the stuff classes in increasing semantic id. `model_to_semantic[k]` is
the semantic id of model class k.
"""
import dataclasses
import importlib
from typing import Callable, Mapping

Color = tuple[int, int, int]


@dataclasses.dataclass(frozen=True, kw_only=True)
class DatasetFacts:
  """What the labels of a data set mean.

  Attributes:
    name: short name (`config.data.name`), used in error messages.
    class_names: one name per semantic id 0..num_classes-1.
    thing_ids: semantic ids of the thing classes (those with instance / track
      ids), in model order: model class k < num_things is thing_ids[k].
    void_label: the semantic id of unlabelled (ignored) pixels; outside
      0..num_classes-1.
    label_divisor: panoptic id = semantic * label_divisor + instance.
    colors: one RGB colour per semantic id, for pictures.
  """
  name: str
  class_names: tuple[str, ...]
  thing_ids: tuple[int, ...]
  void_label: int
  label_divisor: int
  colors: tuple[Color, ...]

  def __post_init__(self):
    n = len(self.class_names)
    where = f"DatasetFacts {self.name!r}"
    if n == 0:
      raise ValueError(f"{where}: class_names is empty.")
    things = tuple(int(t) for t in self.thing_ids)
    if len(set(things)) != len(things) or any(not 0 <= t < n for t in things):
      raise ValueError(f"{where}: thing_ids {things} must be distinct ids in "
                       f"[0, {n}).")
    if 0 <= self.void_label < n:
      raise ValueError(f"{where}: void_label {self.void_label} is a class id "
                       f"(0..{n - 1}).")
    if self.label_divisor <= 0:
      raise ValueError(f"{where}: label_divisor {self.label_divisor} must be "
                       "positive.")
    if len(self.colors) != n or any(
        len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in self.colors):
      raise ValueError(f"{where}: colors must be {n} RGB triples in 0..255, "
                       f"got {len(self.colors)}.")

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  @property
  def num_things(self) -> int:
    return len(self.thing_ids)

  @property
  def num_stuff(self) -> int:
    return self.num_classes - self.num_things

  @property
  def stuff_ids(self) -> tuple[int, ...]:
    """Stuff semantic ids, increasing: model classes num_things.. in order."""
    return tuple(c for c in range(self.num_classes) if c not in self.thing_ids)

  @property
  def model_to_semantic(self) -> tuple[int, ...]:
    """[num_classes] semantic id of each model class (things, then stuff)."""
    return tuple(self.thing_ids) + self.stuff_ids

  @property
  def thing_names(self) -> tuple[str, ...]:
    return tuple(self.class_names[t] for t in self.thing_ids)

  def is_thing(self, semantic_id: int) -> bool:
    return int(semantic_id) in self.thing_ids

  def valid_label_values(self) -> frozenset[int]:
    """Semantic values a label map may hold: the classes and void."""
    return frozenset(range(self.num_classes)) | {self.void_label}


# config.data.name -> "module:ATTRIBUTE" (imported on first use) or a record.
_REGISTRY: dict[str, "str | DatasetFacts | Callable[[], DatasetFacts]"] = {
    "kitti_step": "video_knet_jax.datasets.kitti_step.facts:KITTI_STEP",
    "synthetic_step": "video_knet_jax.datasets.synthetic_step.spec:LABEL_SPACE",
    "cityscapes_step": "video_knet_jax.datasets.cityscapes_step.facts:CITYSCAPES_STEP",
    "cityscapes_vps": "video_knet_jax.datasets.cityscapes_vps.facts:CITYSCAPES_VPS",
    "vipseg": "video_knet_jax.datasets.vipseg.facts:VIPSEG",
    "vspw": "video_knet_jax.datasets.vspw.facts:VSPW",
    "youtube_vis": "video_knet_jax.datasets.youtube_vis.facts:YOUTUBE_VIS_2019",
    "coco": "video_knet_jax.datasets.coco.facts:COCO_INSTANCES",
    "coco_panoptic": "video_knet_jax.datasets.coco.facts:COCO_PANOPTIC",
}


def register(name: str,
             facts: "str | DatasetFacts | Callable[[], DatasetFacts]") -> None:
  """Makes `facts_for_name(name)` return `facts` (a record, a zero-argument
  function returning one, or a "module:ATTRIBUTE" string)."""
  _REGISTRY[name] = facts


def registered_names() -> tuple[str, ...]:
  return tuple(sorted(_REGISTRY))


def facts_for_name(name: str) -> DatasetFacts:
  """The facts record registered under `name`."""
  if name not in _REGISTRY:
    raise ValueError(f"config.data.name={name!r} has no dataset facts; known: "
                     f"{list(registered_names())} (datasets/facts.py).")
  entry = _REGISTRY[name]
  if isinstance(entry, str):
    module, attribute = entry.split(":")
    entry = getattr(importlib.import_module(module), attribute)
  elif callable(entry) and not isinstance(entry, DatasetFacts):
    entry = entry()
  if not isinstance(entry, DatasetFacts):
    raise TypeError(f"Dataset facts registered as {name!r} are a "
                    f"{type(entry).__name__}, not DatasetFacts.")
  return entry


def facts_for_config(config) -> DatasetFacts:
  """The facts of `config.data.name`, checked against the config.

  Configs may repeat the label space (`config.data.num_classes`,
  `thing_train_ids`, `ignore_label`; `config.model.num_thing_classes`,
  `num_stuff_classes`); any of those that are set must agree with the facts.
  """
  facts = facts_for_name(config.data.name)
  check_config(config, facts)
  return facts


def check_config(config, facts: DatasetFacts) -> None:
  """Raises ValueError naming the first config field that disagrees."""
  expected: Mapping[str, object] = {
      "data.num_classes": facts.num_classes,
      "data.thing_train_ids": tuple(facts.thing_ids),
      "data.ignore_label": facts.void_label,
      "model.num_thing_classes": facts.num_things,
      "model.num_stuff_classes": facts.num_stuff,
  }
  for path, want in expected.items():
    section, field = path.split(".")
    block = config.get(section) if hasattr(config, "get") else None
    if block is None or field not in block:
      continue
    got = block[field]
    got = tuple(int(v) for v in got) if isinstance(want, tuple) else int(got)
    if got != want:
      raise ValueError(f"config.{path}={got} disagrees with the dataset facts "
                       f"of {facts.name!r} ({want}).")
