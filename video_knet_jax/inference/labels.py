"""Track ids and class names drawn on an overlay frame (PIL, host side)."""
from typing import Mapping, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from video_knet_jax.inference import visualize


def draw_track_labels(rgb: np.ndarray, labels: Mapping[int, Tuple[tuple, str]],
                      font_size: int = 12) -> np.ndarray:
  """Writes 'id class' at the top-left of each box, on the track's colour.

  Args:
    rgb: [H, W, 3] uint8 frame (e.g. `visualize.overlay`).
    labels: track id -> ((x0, y0, x1, y1), class name).
  """
  image = Image.fromarray(np.asarray(rgb, np.uint8))
  draw = ImageDraw.Draw(image)
  font = ImageFont.load_default(size=font_size)
  for track_id, ((x0, y0, _, _), name) in sorted(labels.items()):
    text = f"{track_id} {name}"
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left + 4, bottom - top + 4
    x = int(min(max(x0, 0), max(image.width - w, 0)))
    y = int(max(y0 - h, 0))
    color = tuple(int(c) for c in visualize.track_colors(np.array([track_id]))[0])
    draw.rectangle([x, y, x + w, y + h], fill=color)
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    draw.text((x + 2 - left, y + 2 - top), text, font=font,
              fill=(0, 0, 0) if luminance > 140 else (255, 255, 255))
  return np.asarray(image)
