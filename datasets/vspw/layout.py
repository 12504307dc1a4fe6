"""Finds the videos and frames of a VSPW tree (the official download layout).

  <root>/{train,val,test}.txt          one video directory name per line
  <root>/data/<video>/origin/<frame>.jpg
  <root>/data/<video>/mask/<frame>.png (train, val)
`<root>` is the manual dir itself or its single `VSPW_480p/` / `VSPW/` child.
Frames are ordered by sorted file name (the toolkit's order).
"""
import dataclasses

from etils import epath

from video_knet_jax.datasets.vspw import errors

ROOT_NAMES = ("VSPW_480p", "VSPW")


@dataclasses.dataclass(frozen=True)
class FrameFiles:
  """One frame: its video, position in the video, and files."""
  video: str
  video_index: int       # line number of the video in the split file.
  frame_index: int       # position in the sorted frames of the video.
  image_path: epath.Path
  mask_path: epath.Path | None


def find_root(manual_dir: epath.PathLike, splits=("train", "val", "test")) -> epath.Path:
  """The directory holding the split files; fails naming what is missing."""
  base = epath.Path(manual_dir)
  if not base.is_dir():
    raise errors.MissingManualDirError(
        f"VSPW manual directory {base} does not exist; see docs/DATA.md.")
  for root in (base, *(base / name for name in ROOT_NAMES)):
    if any((root / f"{s}.txt").exists() for s in splits):
      return root
  raise errors.MissingManualDirError(
      f"{base} has no split files ({', '.join(f'{s}.txt' for s in splits)}), "
      f"neither directly nor under {' or '.join(ROOT_NAMES)}/.")


def read_split_file(root: epath.Path, split: str) -> list[str]:
  path = root / f"{split}.txt"
  if not path.exists():
    raise errors.MissingManualDirError(f"Split file {path} does not exist.")
  videos = [line.strip() for line in path.read_text().splitlines() if line.strip()]
  if len(set(videos)) != len(videos):
    raise errors.VspwFormatError(f"{path} lists a video more than once.")
  return videos


def find_frames(root: epath.Path, split: str, labelled: bool) -> list[FrameFiles]:
  """Every frame of a split, in (split-file order, sorted frame name) order."""
  frames = []
  for v, video in enumerate(read_split_file(root, split)):
    origin = root / "data" / video / "origin"
    if not origin.is_dir():
      raise errors.MissingVideoError(
          f"Video {video!r} of {root / (split + '.txt')} has no folder {origin}.")
    images = {p.stem: p for p in origin.iterdir() if p.suffix.lower() == ".jpg"}
    if not images:
      raise errors.MissingVideoError(f"{origin} holds no .jpg frames (video {video!r}).")
    masks = {}
    if labelled:
      mask_dir = root / "data" / video / "mask"
      if mask_dir.is_dir():
        masks = {p.stem: p for p in mask_dir.iterdir() if p.suffix.lower() == ".png"}
      missing = sorted(set(images) - set(masks))
      if missing:
        raise errors.MissingMaskError(
            f"Frame {images[missing[0]]} has no mask {mask_dir / (missing[0] + '.png')} "
            f"({len(missing)} frames of video {video!r} lack masks; split {split!r}).")
      orphans = sorted(set(masks) - set(images))
      if orphans:
        raise errors.MissingMaskError(
            f"Mask {masks[orphans[0]]} has no frame {origin / (orphans[0] + '.jpg')}.")
    for t, stem in enumerate(sorted(images)):
      frames.append(FrameFiles(video, v, t, images[stem], masks.get(stem)))
  return frames
