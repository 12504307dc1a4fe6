"""Pictures of panoptic predictions: colour maps and overlays (numpy, host side).

Stuff and untracked things take their class colour; tracked things take a
colour derived from the track id alone, so one object keeps its colour over a
whole video; void is black.
"""
import numpy as np

from video_knet_jax.datasets import cityscapes_labels

# Cityscapes trainId colours 0..18 (road, sidewalk, ..., bicycle); other data
# sets pass their facts' `colors` (and `void_label`).
CITYSCAPES_PALETTE = np.array(cityscapes_labels.COLORS, np.uint8)


def track_colors(ids: np.ndarray) -> np.ndarray:
  """Deterministic, well-spread bright colour per id: [...] int -> [..., 3] uint8.

  Hue steps by the golden ratio per id; saturation/value vary slowly so that
  ids far apart in the sequence still differ.
  """
  ids = np.asarray(ids, np.int64)
  hue = (ids * 0.6180339887498949) % 1.0
  sat = 0.65 + 0.35 * ((ids * 7 % 5) / 4.0)
  val = 0.75 + 0.25 * ((ids * 3 % 4) / 3.0)
  h6 = hue * 6.0
  sector = np.floor(h6).astype(np.int64) % 6
  frac = h6 - np.floor(h6)
  p, q, t = val * (1 - sat), val * (1 - sat * frac), val * (1 - sat * (1 - frac))
  table = np.stack([
      np.stack([val, t, p], -1), np.stack([q, val, p], -1), np.stack([p, val, t], -1),
      np.stack([p, q, val], -1), np.stack([t, p, val], -1), np.stack([val, p, q], -1)], 0)
  rgb = np.take_along_axis(table, sector[None, ..., None], axis=0)[0]
  return np.round(rgb * 255).astype(np.uint8)


def colorize(semantic: np.ndarray, ids: np.ndarray,
             palette: np.ndarray = CITYSCAPES_PALETTE) -> np.ndarray:
  """[H, W] trainIds and [H, W] track ids (0 none) -> [H, W, 3] uint8; ids
  outside the palette (void) are black."""
  palette = np.asarray(palette, np.uint8)
  semantic = np.asarray(semantic)
  ids = np.asarray(ids)
  if semantic.shape != ids.shape:
    raise ValueError(f"colorize: semantic {semantic.shape} != ids {ids.shape}.")
  known = (semantic >= 0) & (semantic < len(palette))
  out = np.zeros(semantic.shape + (3,), np.uint8)
  out[known] = palette[semantic[known]]
  tracked = ids > 0
  out[tracked] = track_colors(ids[tracked])
  return out


def overlay(image: np.ndarray, semantic: np.ndarray, ids: np.ndarray,
            alpha: float = 0.5, palette: np.ndarray = CITYSCAPES_PALETTE,
            void_label: int = cityscapes_labels.VOID_LABEL) -> np.ndarray:
  """Blends the colour map over an [H, W, 3] uint8 image; void stays the image.

  Segment borders (a change of class or id between neighbours) are drawn white.
  """
  image = np.asarray(image)
  if image.shape[:2] != np.shape(semantic) or image.ndim != 3:
    raise ValueError(f"overlay: image {image.shape} does not match maps {np.shape(semantic)}.")
  colors = colorize(semantic, ids, palette).astype(np.float32)
  base = image[..., :3].astype(np.float32)
  painted = np.asarray(semantic) != void_label
  blend = np.where(painted[..., None], (1 - alpha) * base + alpha * colors, base)
  key = np.asarray(semantic).astype(np.int64) * 65536 + np.asarray(ids)
  border = np.zeros(key.shape, bool)
  border[:-1] |= key[:-1] != key[1:]
  border[:, :-1] |= key[:, :-1] != key[:, 1:]
  blend[border] = 255.0
  return np.clip(np.round(blend), 0, 255).astype(np.uint8)
