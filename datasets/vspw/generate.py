"""Writes a small VSPW-format set (official layout) for tests and short runs.

Each video: a horizon splits two background classes (the pair drawn per video),
a textured band of a third class, and two moving objects (car, person) that
cross the frame; a patch of "others" (raw 0) and a void border (raw 255) are in
every mask, as in real VSPW masks. Frames are JPEG, masks single-channel PNG,
frame names 8-digit, and `{train,val,test}.txt` list the videos (test without
masks, like the download). Draws come from `default_rng([seed, split, video])`.
"""
import dataclasses
import hashlib

import numpy as np
from etils import epath
from PIL import Image as PILImage

from video_knet_jax.datasets.vspw import facts as facts_lib

# Raw mask values (train id + 1) of the classes the generator draws.
WALL, GRASS, ROAD, SKY, CAR, PERSON, TREE = 1, 16, 19, 29, 49, 61, 67
OTHERS, VOID = facts_lib.RAW_OTHERS, facts_lib.VOID_LABEL
_COLOURS = {WALL: (150, 140, 120), GRASS: (60, 150, 50), ROAD: (90, 90, 95),
            SKY: (120, 170, 230), CAR: (200, 40, 40), PERSON: (230, 190, 60),
            TREE: (30, 90, 30), OTHERS: (170, 60, 170), VOID: (0, 0, 0)}
_SPLIT_SEED = {"train": 0, "val": 1, "test": 2}


@dataclasses.dataclass(frozen=True)
class GeneratedSpec:
  """Size of the generated set."""
  seed: int = 0
  videos: tuple[tuple[str, int], ...] = (("train", 3), ("val", 2), ("test", 1))
  frames_per_video: int = 6
  height: int = 48
  width: int = 64
  noise: float = 12.0          # per-pixel, per-frame noise (std, 0..255 scale).

  @classmethod
  def from_dict(cls, d) -> "GeneratedSpec":
    d = dict(d)
    d["videos"] = tuple((str(s), int(n)) for s, n in d.get("videos", cls.videos))
    return cls(**d)

  def config_name(self) -> str:
    """A builder-config name that changes whenever the generated set would."""
    return "generated_" + hashlib.sha1(repr(self).encode()).hexdigest()[:10]

  def facts(self) -> facts_lib.VspwFacts:
    return facts_lib.VSPW          # the generator draws from VSPW's label space.


def _colour_table() -> np.ndarray:
  """[256, 3] float colour of each raw mask value."""
  table = np.zeros((256, 3))
  for value, colour in _COLOURS.items():
    table[value] = colour
  return table


def video_name(split: str, index: int) -> str:
  return f"{split}_{index:04d}_scene"


def render_video(spec: GeneratedSpec, split: str, index: int):
  """-> frames [T, H, W, 3] uint8, raw masks [T, H, W] uint8."""
  rng = np.random.default_rng([spec.seed, _SPLIT_SEED[split], index])
  h, w, t_len = spec.height, spec.width, spec.frames_per_video
  top, bottom = [(SKY, ROAD), (WALL, GRASS), (SKY, GRASS)][rng.integers(3)]
  horizon = int(h * rng.uniform(0.35, 0.55))
  band = (horizon - max(2, h // 8), horizon)          # trees along the horizon
  car_y = int(h * rng.uniform(0.6, 0.75))
  car_x0, car_v = rng.uniform(-0.2, 0.3) * w, rng.uniform(0.03, 0.08) * w
  person_x0, person_v = rng.uniform(0.6, 1.0) * w, -rng.uniform(0.02, 0.06) * w
  texture = rng.normal(0, 10, (h, w, 3))
  yy, xx = np.mgrid[:h, :w]
  frames, masks = [], []
  for t in range(t_len):
    m = np.where(yy < horizon, top, bottom).astype(np.uint8)
    m[(yy >= band[0]) & (yy < band[1]) & ((xx // 6) % 3 != 0)] = TREE
    cx = car_x0 + car_v * t
    m[(abs(yy - car_y) < h * 0.1) & (abs(xx - cx) < w * 0.14)] = CAR
    px, py = person_x0 + person_v * t, horizon + h * 0.15
    m[((yy - py) / (h * 0.16))**2 + ((xx - px) / (w * 0.05))**2 < 1] = PERSON
    m[:h // 8, -w // 6:] = OTHERS                     # a corner of "others"
    m[:, :2] = VOID                                   # void border columns
    image = _colour_table()[m] + texture + rng.normal(0, spec.noise, (h, w, 3))
    frames.append(np.clip(image, 0, 255).astype(np.uint8))
    masks.append(m)
  return np.stack(frames), np.stack(masks)


def write_tree(root: epath.PathLike, spec: GeneratedSpec = GeneratedSpec(),
               labelled_splits=("train", "val")) -> epath.Path:
  """Writes `<root>/VSPW_480p/...`; returns that directory."""
  out = epath.Path(root) / "VSPW_480p"
  for split, count in spec.videos:
    names = [video_name(split, i) for i in range(count)]
    for i, name in enumerate(names):
      frames, masks = render_video(spec, split, i)
      (out / "data" / name / "origin").mkdir(parents=True, exist_ok=True)
      if split in labelled_splits:
        (out / "data" / name / "mask").mkdir(parents=True, exist_ok=True)
      for t in range(len(frames)):
        stem = f"{t * 3:08d}"                         # 15 fps annotation: gaps in names
        PILImage.fromarray(frames[t]).save(
            (out / "data" / name / "origin" / f"{stem}.jpg"), quality=95)
        if split in labelled_splits:
          PILImage.fromarray(masks[t], mode="L").save(out / "data" / name / "mask" / f"{stem}.png")
    (out / f"{split}.txt").write_text("".join(n + "\n" for n in names))
  return out
