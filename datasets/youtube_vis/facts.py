"""The YouTube-VIS 2019 label space: 40 thing categories, no stuff.

Category ids 1..40 of the annotation JSON in this order; the model's class
index is category_id - 1 (the original's `CLASSES_2019_version`).
"""
import colorsys

from video_knet_jax.datasets import facts as facts_lib

CLASS_NAMES_2019 = (
    "person", "giant_panda", "lizard", "parrot", "skateboard", "sedan", "ape",
    "dog", "snake", "monkey", "hand", "rabbit", "duck", "cat", "cow", "fish",
    "train", "horse", "turtle", "bear", "motorbike", "giraffe", "leopard",
    "fox", "deer", "owl", "surfboard", "airplane", "truck", "zebra", "tiger",
    "elephant", "snowboard", "boat", "shark", "mouse", "frog", "eagle",
    "earless_seal", "tennis_racket")
# Pixels outside every instance (instances may overlap; there is no stuff).
VOID_LABEL = 255
# Panoptic-style ids (class * divisor + track) for pictures; YouTube-VIS
# 2019 has 4,883 instances in all.
LABEL_DIVISOR = 10_000


def _colors(n: int) -> tuple[tuple[int, int, int], ...]:
  """n well-separated hues (golden-ratio steps), full saturation."""
  out = []
  for k in range(n):
    r, g, b = colorsys.hsv_to_rgb((k * 0.618033988749895) % 1.0, 0.75, 0.95)
    out.append((int(r * 255), int(g * 255), int(b * 255)))
  return tuple(out)


YOUTUBE_VIS_2019 = facts_lib.DatasetFacts(
    name="youtube_vis",
    class_names=CLASS_NAMES_2019,
    thing_ids=tuple(range(len(CLASS_NAMES_2019))),
    void_label=VOID_LABEL,
    label_divisor=LABEL_DIVISOR,
    colors=_colors(len(CLASS_NAMES_2019)),
)
