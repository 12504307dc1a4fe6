"""Generates a synthetic STEP-format video set in the KITTI-STEP directory layout.

Each sequence is a side view of a street seen by a slowly panning camera:
textured sky, buildings, vegetation, fence, poles, sidewalk, road and terrain
(stuff), a void "ego hood" strip and void billboards, and people and cars
(things) walking/driving along depth lanes. Tracking is genuinely needed:
  * same-class objects cross each other in opposite directions at different
    depths, so the nearer one occludes the farther one, sometimes fully;
  * objects enter and leave the frame (some appear mid-sequence);
  * some move faster per frame than their own width, so consecutive masks do
    not overlap;
  * parked trucks and wall segments (stuff, static in the world) hide
    objects that pass behind them, which come back with the same id;
  * instances of a class share a per-sequence base colour with a small
    per-instance jitter and stripe texture: alike, but not identical.
Every random draw comes from `np.random.default_rng([seed, sequence_id])`, so a
sequence is the same whatever the set's size. Labels follow KITTI-STEP: R =
Cityscapes trainId, G * 256 + B = instance id (unique per object in its
sequence, persistent over frames), 255 = void.
"""
import dataclasses
import os
import shutil
import tempfile

import numpy as np
from etils import epath
from PIL import Image as PILImage
from scipy import ndimage

from video_knet_jax.datasets.kitti_step import label_codec
from video_knet_jax.datasets.kitti_step import layout as layout_lib
from video_knet_jax.datasets.synthetic_step import spec as spec_lib

ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE = 0, 1, 2, 3, 4, 5
VEGETATION, TERRAIN, SKY, PERSON, CAR, TRUCK = 8, 9, 10, 11, 13, 14
VOID = 255
_COLOURS = {
    ROAD: (85, 85, 92), SIDEWALK: (165, 145, 145), BUILDING: (125, 95, 80),
    WALL: (150, 150, 140), TRUCK: (200, 195, 185),
    FENCE: (150, 135, 100), POLE: (175, 170, 50), VEGETATION: (55, 120, 45),
    TERRAIN: (140, 165, 85), SKY: (115, 165, 225), VOID: (35, 35, 40),
}
_COMPLETE_MARKER = ".generated"


@dataclasses.dataclass
class _Object:
  """One moving thing: class, track id, depth lane and straight motion."""
  semantic: int
  instance: int
  depth: float           # 0 far .. 1 near; nearer objects are drawn last.
  x0: float              # world x of the centre at frame t0.
  speed: float           # world px per frame (signed).
  t0: int
  t1: int
  colour: np.ndarray     # [3] main colour.
  colour2: np.ndarray    # [3] second colour (trousers / windows).
  stripe_period: float
  stripe_phase: float
  vertical_stripes: bool
  width_frac: float = 0.0   # occluders only: width as a fraction of W.


def render_sequence(spec: spec_lib.SyntheticSpec, sequence_id: int):
  """Returns images [T,H,W,3] uint8, semantic [T,H,W] uint8, instance [T,H,W]."""
  rng = np.random.default_rng([spec.seed, sequence_id])
  h, w, t_len = spec.height, spec.width, spec.frames_per_sequence
  cam_speed = rng.uniform(-3.0, 3.0) * w / 384
  span = int(np.ceil(abs(cam_speed) * (t_len - 1))) + 2
  cam_start = span - 1 if cam_speed < 0 else 0
  offsets = [int(round(cam_start + cam_speed * t)) for t in range(t_len)]

  geometry = _Geometry.draw(rng, h)
  bg_label, bg_image = _background(rng, geometry, h, w + span)
  objects = _objects(rng, geometry, spec, offsets)
  hood = int(rng.uniform(0.0, 0.07) * h) if rng.random() < 0.6 else 0

  images = np.zeros((t_len, h, w, 3), np.uint8)
  semantic = np.zeros((t_len, h, w), np.uint8)
  instance = np.zeros((t_len, h, w), np.uint16)
  for t, off in enumerate(offsets):
    img = bg_image[:, off:off + w].copy()
    lab = bg_label[:, off:off + w].copy()
    ins = np.zeros((h, w), np.int32)
    for obj in sorted(objects, key=lambda o: o.depth):
      if obj.t0 <= t <= obj.t1:
        _draw(obj, t, obj.x0 + obj.speed * (t - obj.t0) - off, geometry,
              img, lab, ins)
    if hood:
      lab[h - hood:], ins[h - hood:] = VOID, 0
      img[h - hood:] = np.asarray(_COLOURS[VOID], np.float32)
    img = img + rng.normal(0.0, 2.5, img.shape)   # sensor noise per frame.
    images[t] = np.clip(np.round(img), 0, 255).astype(np.uint8)
    semantic[t], instance[t] = lab, ins
  return images, semantic, instance


def write_tree(out_dir: epath.PathLike, spec: spec_lib.SyntheticSpec,
               layout: str = layout_lib.DEEPLAB2) -> epath.Path:
  """Writes train and val (and an unlabelled test split when the spec asks)
  in a KITTI-STEP layout under `out_dir`; idempotent.

  The tree is written to a temporary sibling and renamed, with a marker file,
  so an interrupted run never leaves a half-written tree behind.
  """
  out_dir = epath.Path(out_dir)
  if (out_dir / _COMPLETE_MARKER).exists():
    return out_dir
  out_dir.parent.mkdir(parents=True, exist_ok=True)
  tmp = epath.Path(tempfile.mkdtemp(prefix=out_dir.name + ".tmp",
                                    dir=os.fspath(out_dir.parent)))
  for split, sequences in spec.split_sequences().items():
    for seq in sequences:
      images, semantic, instance = render_sequence(spec, seq)
      for t in range(spec.frames_per_sequence):
        label = label_codec.encode_rgb_label(semantic[t], instance[t])
        image_path, label_path = _paths(tmp, layout, split, seq, t)
        image_path.parent.mkdir(parents=True, exist_ok=True)
        PILImage.fromarray(images[t]).save(image_path, compress_level=1)
        if split == "test":
          continue   # KITTI-STEP's test split has no labels.
        label_path.parent.mkdir(parents=True, exist_ok=True)
        PILImage.fromarray(label).save(label_path, compress_level=1)
  (tmp / _COMPLETE_MARKER).write_text(f"{spec}\nlayout={layout}\n")
  if out_dir.exists():
    shutil.rmtree(out_dir)
  tmp.rename(out_dir)
  return out_dir


def _paths(root, layout, split, seq, frame):
  if layout == layout_lib.DEEPLAB2:
    rel = f"{split}/{seq:04d}/{frame:06d}.png"
    return root / "images" / rel, root / "panoptic_maps" / rel
  if layout == layout_lib.VIDEO_KNET:
    stem = root / "video_sequence" / split / f"{seq:06d}_{frame:06d}"
    return (stem.parent / (stem.name + "_leftImg8bit.png"),
            stem.parent / (stem.name + "_panoptic.png"))
  raise ValueError(f"Unknown layout {layout!r}; expected "
                   f"{layout_lib.DEEPLAB2!r} or {layout_lib.VIDEO_KNET!r}.")


@dataclasses.dataclass(frozen=True)
class _Geometry:
  """Rows where the street bands begin (0 = top)."""
  horizon: int        # bottom of buildings / top of the far sidewalk.
  road_top: int
  road_bottom: int    # top of the near sidewalk / terrain.
  height: int

  @classmethod
  def draw(cls, rng, h):
    horizon = int(h * rng.uniform(0.38, 0.48))
    road_top = horizon + max(2, int(h * rng.uniform(0.05, 0.09)))
    road_bottom = road_top + int(h * rng.uniform(0.30, 0.38))
    return cls(horizon, road_top, min(road_bottom, h - 2), h)

  def ground_row(self, depth: float) -> float:
    """Where an object at `depth` touches the ground (far sidewalk .. bottom)."""
    return self.horizon + 2 + depth * (self.height - 3 - self.horizon)


def _background(rng, geo, h, wc):
  """Label [h, wc] uint8 and textured image [h, wc, 3] float32 of the street."""
  label = np.full((h, wc), SKY, np.uint8)
  xx = np.arange(wc)[None, :]
  yy = np.arange(h)[:, None]
  x = 0
  while x < wc:   # Skyline of buildings and trees.
    width = int(rng.integers(h // 5, h // 2 + 1))
    top = int(rng.uniform(0.06, 0.8) * geo.horizon)
    kind = BUILDING if rng.random() < 0.65 else VEGETATION
    cols = slice(x, x + width)
    if kind == VEGETATION:
      bump = 4 * np.sin(np.arange(x, min(x + width, wc)) * rng.uniform(0.2, 0.5))
      tops = np.clip(top + bump, 0, geo.horizon).astype(int)
      label[:, cols] = np.where(yy >= tops[None, :], kind, label[:, cols])
    else:
      label[top:geo.horizon, cols] = kind
    x += width
  label[geo.horizon:geo.road_top] = SIDEWALK
  label[geo.road_top:geo.road_bottom] = ROAD
  x = 0
  while x < wc:   # Near side: sidewalk and terrain patches.
    width = int(rng.integers(h // 4, h + 1))
    label[geo.road_bottom:, x:x + width] = (SIDEWALK if rng.random() < 0.5
                                            else TERRAIN)
    x += width
  fence_top = geo.horizon - max(3, int(0.06 * h))
  for _ in range(int(rng.integers(0, 3))):   # Fence segments.
    x = int(rng.integers(0, wc))
    label[fence_top:geo.horizon, x:x + int(rng.integers(h // 4, h))] = FENCE
  for _ in range(int(rng.integers(1, 4))):   # Void billboards.
    bw, bh = int(rng.integers(6, h // 4)), int(rng.integers(4, h // 6))
    bx, by = int(rng.integers(0, wc)), int(rng.integers(0, geo.horizon - bh))
    label[by:by + bh, bx:bx + bw] = VOID
  for _ in range(int(rng.integers(1, 2 + wc // 96))):   # Poles.
    px = int(rng.integers(0, wc))
    label[int(0.15 * h):geo.horizon + 2, px:px + max(2, h // 48)] = POLE

  lut = np.zeros((256, 3), np.float32)
  for sem, colour in _COLOURS.items():
    lut[sem] = np.asarray(colour) + rng.normal(0.0, 10.0, 3)
  image = lut[label]
  coarse = rng.normal(0.0, 16.0, (h // 8 + 2, wc // 8 + 2, 1))
  image += ndimage.zoom(coarse, (8, 8, 1), order=1)[:h, :wc]
  image += rng.normal(0.0, 5.0, (h, wc, 1))
  windows = (label == BUILDING) & ((yy // 5) % 2 == 0) & ((xx // 4) % 3 == 0)
  image[windows] -= 45.0
  image[(label == FENCE) & ((xx // 2) % 2 == 0)] -= 35.0
  lane = (yy == (geo.road_top + geo.road_bottom) // 2) & ((xx // 12) % 2 == 0)
  image[lane] = 235.0
  return label, image


def _objects(rng, geo, spec, offsets):
  """People and cars with crossing, entering, leaving and fast trajectories."""
  h, w, t_len = spec.height, spec.width, spec.frames_per_sequence
  unit = w / 384.0
  base = {CAR: rng.uniform(40, 215, 3), PERSON: rng.uniform(40, 215, 3)}
  base2 = {CAR: np.array([60.0, 70.0, 90.0]), PERSON: rng.uniform(20, 120, 3)}
  classes = [CAR] * int(rng.integers(2, 6)) + [PERSON] * int(rng.integers(3, 8))
  ids = rng.choice(np.arange(1, 1000), size=len(classes), replace=False)
  objects = []
  for sem, inst in zip(classes, ids):
    fast = rng.random() < 0.3
    if sem == CAR:
      speed = rng.uniform(22, 36) if fast else rng.uniform(4, 16)
    else:
      speed = rng.uniform(12, 18) if fast else rng.uniform(2, 9)
    speed *= unit * rng.choice([-1.0, 1.0])
    t0, t1 = 0, t_len - 1
    if rng.random() < 0.3:   # Appears mid-sequence at the edge it enters from.
      t0 = int(rng.integers(1, max(2, t_len // 2)))
      x0 = (-0.1 * w if speed > 0 else 1.1 * w) + offsets[t0]
    else:
      x0 = rng.uniform(-0.3, 1.3) * w + offsets[0]
    if rng.random() < 0.2:   # Leaves early (drives off / enters a building).
      t1 = int(rng.integers(t0 + 1, t_len))
    objects.append(_Object(
        semantic=sem, instance=int(inst), depth=float(rng.uniform(0.1, 1.0)),
        x0=float(x0), speed=float(speed), t0=t0, t1=t1,
        colour=np.clip(base[sem] + rng.normal(0, 18, 3), 0, 255),
        colour2=np.clip(base2[sem] + rng.normal(0, 12, 3), 0, 255),
        stripe_period=float(rng.uniform(3.0, 8.0)),
        stripe_phase=float(rng.uniform(0, 2 * np.pi)),
        vertical_stripes=bool(rng.random() < 0.5)))
  # A same-class pair crossing in opposite directions at different depths.
  for sem in (CAR, PERSON):
    pair = [o for o in objects if o.semantic == sem][:2]
    if len(pair) == 2:
      t_cross = int(rng.integers(t_len // 4, max(t_len // 4 + 1, 3 * t_len // 4)))
      x_cross = rng.uniform(0.3, 0.7) * w + offsets[t_cross]
      pair[0].depth, pair[1].depth = 0.3, 0.75
      pair[1].speed = -np.sign(pair[0].speed) * abs(pair[1].speed)
      for o in pair:
        o.t0, o.t1 = 0, t_len - 1
        o.x0 = x_cross - o.speed * t_cross
      break
  for _ in range(int(rng.integers(0, 3))):   # Static occluders (stuff).
    sem = TRUCK if rng.random() < 0.5 else WALL
    objects.append(_Object(
        semantic=sem, instance=0, depth=float(rng.uniform(0.5, 0.8)),
        x0=float(rng.uniform(0.1, 0.9) * w + offsets[t_len // 2]), speed=0.0,
        t0=0, t1=t_len - 1,
        colour=np.clip(np.asarray(_COLOURS[sem]) + rng.normal(0, 12, 3), 0, 255),
        colour2=np.zeros(3), stripe_period=float(rng.uniform(4.0, 10.0)),
        stripe_phase=0.0, vertical_stripes=sem == TRUCK,
        width_frac=float(rng.uniform(0.08, 0.2))))
  return objects


def _draw(obj, t, x_centre, geo, img, lab, ins):
  """Paints one object (far to near order makes occlusion) into the frame."""
  h_img, w_img = lab.shape
  scale = 0.55 + 0.9 * obj.depth
  if obj.width_frac:
    height = 0.42 * geo.height * scale
    width = obj.width_frac * w_img
  elif obj.semantic == CAR:
    height = 0.17 * geo.height * scale
    width = 2.3 * height
  else:
    height = 0.30 * geo.height * scale
    width = 0.36 * height
  bottom = geo.ground_row(obj.depth)
  top, left = bottom - height, x_centre - width / 2
  r0, r1 = max(0, int(np.floor(top))), min(h_img, int(np.ceil(bottom)))
  c0, c1 = max(0, int(np.floor(left))), min(w_img, int(np.ceil(left + width)))
  if r0 >= r1 or c0 >= c1:
    return
  ys = np.arange(r0, r1)[:, None] + 0.5
  xs = np.arange(c0, c1)[None, :] + 0.5
  u, v = (xs - left) / width, (ys - top) / height   # [0, 1] in the box.
  if obj.width_frac:   # A box; wheels darken a truck's bottom edge.
    mask = np.ones(u.shape, bool)
    second = np.zeros(u.shape, bool)
    dark = (v > 0.9) & (obj.semantic == TRUCK)
  elif obj.semantic == CAR:
    body = (v >= 0.4) & (v <= 0.86) & (u >= 0.0) & (u <= 1.0)
    cabin = (v >= 0.05) & (v < 0.4) & (u >= 0.2 + 0.15 * (0.4 - v)) & (
        u <= 0.8 - 0.1 * (0.4 - v))
    wheel_r = 0.16 * height
    wheels = np.zeros_like(body)
    for wu in (0.2, 0.8):
      wheels |= ((xs - (left + wu * width)) ** 2
                 + (ys - (top + 0.84 * height)) ** 2) <= wheel_r ** 2
    window = cabin & (v >= 0.12) & (v < 0.36)
    mask = body | cabin | wheels
    second, dark = window, wheels
  else:
    head = ((xs - (left + 0.5 * width)) ** 2
            + (ys - (top + 0.1 * height)) ** 2) <= (0.1 * height) ** 2
    torso = (v >= 0.19) & (v < 0.6) & (u >= 0.1) & (u <= 0.9)
    swing = 0.12 * np.sin(0.9 * t + obj.stripe_phase)
    legs = (v >= 0.6) & (v <= 1.0) & (
        (np.abs(u - (0.32 + swing * (v - 0.6) / 0.4)) <= 0.14)
        | (np.abs(u - (0.68 - swing * (v - 0.6) / 0.4)) <= 0.14))
    mask = head | torso | legs
    second, dark = legs, head
  coord = (xs - left) if obj.vertical_stripes else (ys - top)
  stripes = 14.0 * np.sin(2 * np.pi * coord / obj.stripe_period
                          + obj.stripe_phase)   # moves with the object.
  colour = np.broadcast_to(obj.colour, mask.shape + (3,)) + stripes[..., None]
  colour = np.where(second[..., None], obj.colour2, colour)
  if obj.semantic != PERSON:
    colour = np.where(dark[..., None], 25.0, colour)
  else:
    colour = np.where(dark[..., None], np.array([205.0, 160.0, 130.0]), colour)
  region = (slice(r0, r1), slice(c0, c1))
  img[region] = np.where(mask[..., None], colour, img[region])
  lab[region] = np.where(mask, obj.semantic, lab[region])
  ins[region] = np.where(mask, obj.instance, ins[region])
