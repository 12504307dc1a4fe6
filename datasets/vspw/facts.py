"""Facts about VSPW: 124 semantic classes, no things, raw masks shifted by one.

Raw VSPW mask PNGs hold 0 = "others", 1..124 = classes, 255 = void; the
toolkit's mapping (metrics_and_datasets.md section 3.3) is 0 -> 255 and
v -> v - 1, so the model's classes are 0..123 and 255 is ignored.
"""
import dataclasses

from video_knet_jax.datasets import facts as facts_lib

# Index order after the shift (same 124-name list as VIPSeg).
CLASS_NAMES = (
    "wall", "ceiling", "door", "stair", "ladder", "escalator", "Playground_slide",
    "handrail_or_fence", "window", "rail", "goal", "pillar", "pole", "floor", "ground",
    "grass", "sand", "athletic_field", "road", "path", "crosswalk", "building", "house",
    "bridge", "tower", "windmill", "well_or_well_lid", "other_construction", "sky",
    "mountain", "stone", "wood", "ice", "snowfield", "grandstand", "sea", "river", "lake",
    "waterfall", "water", "billboard_or_Bulletin_Board", "sculpture", "pipeline", "flag",
    "parasol_or_umbrella", "cushion_or_carpet", "tent", "roadblock", "car", "bus", "truck",
    "bicycle", "motorcycle", "wheeled_machine", "ship_or_boat", "raft", "airplane", "tyre",
    "traffic_light", "lamp", "person", "cat", "dog", "horse", "cattle", "other_animal",
    "tree", "flower", "other_plant", "toy", "ball_net", "backboard", "skateboard", "bat",
    "ball", "cupboard_or_showcase_or_storage_rack", "box", "traveling_case_or_trolley_case",
    "basket", "bag_or_package", "trash_can", "cage", "plate", "tub_or_bowl_or_pot",
    "bottle_or_cup", "barrel", "fishbowl", "bed", "pillow", "table_or_desk",
    "chair_or_seat", "bench", "sofa", "shelf", "bathtub", "gun", "commode", "roaster",
    "other_machine", "refrigerator", "washing_machine", "Microwave_oven", "fan", "curtain",
    "textiles", "clothes", "painting_or_poster", "mirror", "flower_pot_or_vase", "clock",
    "book", "tool", "blackboard", "tissue", "screen_or_television", "computer", "printer",
    "Mobile_phone", "keyboard", "other_electronic_product", "fruit", "food", "instrument",
    "train")
VOID_LABEL = 255
RAW_OTHERS = 0          # raw mask value of "others": ignored like void.
# Papers' split sizes (videos); the split files on disk are what the builder reads.
PAPER_SPLIT_VIDEOS = {"train": 2806, "val": 343, "test": 387}


def _palette(n: int) -> tuple[tuple[int, int, int], ...]:
  """The PASCAL VOC bit-interleaved colour map (distinct, deterministic)."""
  colours = []
  for i in range(n):
    r = g = b = 0
    c = i + 1        # start at 1: class 0 should not be black.
    for j in range(8):
      r |= ((c >> 0) & 1) << (7 - j)
      g |= ((c >> 1) & 1) << (7 - j)
      b |= ((c >> 2) & 1) << (7 - j)
      c >>= 3
    colours.append((r, g, b))
  return tuple(colours)


@dataclasses.dataclass(frozen=True, kw_only=True)
class VspwFacts(facts_lib.DatasetFacts):
  """VSPW's label space plus which splits come with masks.

  Attributes (besides DatasetFacts'):
    splits: split names, each read from `<split>.txt`.
    labelled_splits: splits whose videos have `mask/` PNGs.
  """
  splits: tuple[str, ...] = ("train", "val", "test")
  labelled_splits: tuple[str, ...] = ("train", "val")


VSPW = VspwFacts(
    name="vspw",
    class_names=CLASS_NAMES,
    thing_ids=(),               # semantic segmentation only: no instances.
    void_label=VOID_LABEL,
    label_divisor=1000,         # unused (no instances); kept like the others.
    colors=_palette(len(CLASS_NAMES)),
)
assert VSPW.num_classes == 124

