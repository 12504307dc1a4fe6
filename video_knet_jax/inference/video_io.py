"""Frames in (video file, frame folder or glob), one at a time, and video files out.

Videos are decoded with PyAV (`av`, which ships its own FFmpeg); images with
PIL. Nothing holds more than one decoded frame, so memory stays flat over a
video of any length. Every failure a user can cause (missing path, folder
without images, unreadable or empty video, codec without a decoder, frames of
different sizes) raises `InputError` with a one-line message naming the path.
"""
import dataclasses
import glob
import os
import re
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from video_knet_jax.data import keep_ratio_resize

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
_GLOB_CHARS = re.compile(r"[*?\[]")


class InputError(ValueError):
  """A user-facing problem with the input; the message names the path."""


@dataclasses.dataclass
class FrameSource:
  """Selected frames of one video: `frames()` yields (source index, [H, W, 3] uint8 RGB).

  Attributes:
    path: what the user passed.
    fps: frames per second of the source (images: 10).
    num_frames: frames `frames()` will yield, or None if the container does
      not say.
  """
  path: str
  fps: float
  num_frames: Optional[int]
  _frames: Callable[[], Iterator[Tuple[int, np.ndarray]]]

  def frames(self) -> Iterator[Tuple[int, np.ndarray]]:
    return self._frames()


def _natural_key(path: str):
  """'frame10.png' after 'frame9.png'."""
  return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", os.path.basename(path))]


def _selected(indices_and_items, start: int, every_n: int, max_frames: Optional[int]):
  """Frames start, start + every_n, ... (at most max_frames)."""
  taken = 0
  for index, item in indices_and_items:
    if index < start or (index - start) % every_n:
      continue
    if max_frames is not None and taken >= max_frames:
      return
    taken += 1
    yield index, item


def _count(total: Optional[int], start: int, every_n: int, max_frames: Optional[int]):
  if total is None:
    return None
  n = max(0, -(-(total - start) // every_n))
  return n if max_frames is None else min(n, max_frames)


def _read_image(path: str) -> np.ndarray:
  try:
    with Image.open(path) as image:
      return np.asarray(image.convert("RGB"))
  except (OSError, ValueError) as e:
    raise InputError(f"{path}: not a readable image ({e}).") from None


def _image_source(path: str, files: Sequence[str], start, every_n, max_frames) -> FrameSource:
  def frames():
    first_shape = None
    for index, file in _selected(enumerate(files), start, every_n, max_frames):
      rgb = _read_image(file)
      if first_shape is None:
        first_shape = rgb.shape
      elif rgb.shape != first_shape:
        raise InputError(f"{file}: {rgb.shape[1]}x{rgb.shape[0]} differs from the first "
                         f"frame's {first_shape[1]}x{first_shape[0]}; frames of one video "
                         "must share a size.")
      yield index, rgb
  return FrameSource(path, 10.0, _count(len(files), start, every_n, max_frames), frames)


def _video_source(path: str, start, every_n, max_frames) -> FrameSource:
  import av  # pylint: disable=g-import-not-at-top
  try:
    with av.open(path) as container:
      if not container.streams.video:
        raise InputError(f"{path}: no video stream in the file.")
      stream = container.streams.video[0]
      if stream.codec_context is None:
        raise InputError(f"{path}: unsupported codec (no decoder in PyAV's FFmpeg).")
      codec = stream.codec_context.name
      rate = stream.average_rate or stream.guessed_rate or 10
      total = int(stream.frames) or None
  except av.error.DecoderNotFoundError:
    raise InputError(f"{path}: unsupported codec (no decoder in PyAV's FFmpeg).") from None
  except (av.error.FFmpegError, OSError) as e:
    raise InputError(f"{path}: not a readable video ({e}).") from None

  def decoded():
    try:
      with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
          yield index, frame
    except av.error.DecoderNotFoundError:
      raise InputError(f"{path}: unsupported codec {codec!r} (no decoder in PyAV's "
                       "FFmpeg).") from None
    except av.error.FFmpegError as e:
      raise InputError(f"{path}: cannot decode the {codec} stream ({e}).") from None

  def frames():
    any_frame = False
    for index, frame in _selected(decoded(), start, every_n, max_frames):
      any_frame = True
      yield index, frame.to_ndarray(format="rgb24")
    if not any_frame:
      raise InputError(f"{path}: no frames to predict (the video is empty or shorter "
                       f"than --start={start}).")
  return FrameSource(path, float(rate), _count(total, start, every_n, max_frames), frames)


def open_frames(path: str, *, start: int = 0, every_n: int = 1,
                max_frames: Optional[int] = None) -> FrameSource:
  """A video file, a folder of images (natural order) or a glob of images.

  Raises:
    InputError: a path that does not exist, holds no images, or is not a
      video or image this module reads.
  """
  if start < 0 or every_n < 1 or (max_frames is not None and max_frames < 1):
    raise InputError(f"{path}: need start >= 0, every_n >= 1, max_frames >= 1 "
                     f"(got {start}, {every_n}, {max_frames}).")
  if _GLOB_CHARS.search(path) and not os.path.exists(path):
    files = sorted((f for f in glob.glob(path) if f.lower().endswith(IMAGE_SUFFIXES)),
                   key=_natural_key)
    if not files:
      raise InputError(f"{path}: the pattern matches no images ({', '.join(IMAGE_SUFFIXES)}).")
    return _image_source(path, files, start, every_n, max_frames)
  if os.path.isdir(path):
    files = sorted((os.path.join(path, f) for f in os.listdir(path)
                    if f.lower().endswith(IMAGE_SUFFIXES)), key=_natural_key)
    if not files:
      raise InputError(f"{path}: folder without images ({', '.join(IMAGE_SUFFIXES)}).")
    return _image_source(path, files, start, every_n, max_frames)
  if not os.path.exists(path):
    raise InputError(f"{path}: no such file or folder.")
  if path.lower().endswith(IMAGE_SUFFIXES):
    return _image_source(path, [path], start, every_n, max_frames)
  if os.path.isfile(path) and os.path.getsize(path) == 0:
    raise InputError(f"{path}: empty file.")
  if not path.lower().endswith(VIDEO_SUFFIXES):
    raise InputError(f"{path}: not a video ({', '.join(VIDEO_SUFFIXES)}), image, folder "
                     "or glob.")
  return _video_source(path, start, every_n, max_frames)


def resize_to_scale(rgb: np.ndarray, scale: Sequence[int]) -> np.ndarray:
  """mmcv's keep-ratio Resize: the largest size with long edge <= max(scale)
  and short edge <= min(scale); `scale` () keeps the frame as it is."""
  if not scale:
    return rgb
  h, w = rgb.shape[:2]
  size = keep_ratio_resize.rescale_size(h, w, scale)
  if size == (h, w):
    return rgb
  # OpenCV's bilinear (no antialias), as the original; uint8 again for display.
  return np.clip(np.rint(keep_ratio_resize.bilinear(rgb, size)), 0, 255).astype(np.uint8)


class Mp4Writer:
  """Streams [H, W, 3] uint8 frames into an H.264 MP4 (odd sizes padded by one pixel)."""

  def __init__(self, path: str, fps: float):
    import av  # pylint: disable=g-import-not-at-top
    from fractions import Fraction  # pylint: disable=g-import-not-at-top
    self._av = av
    self._container = av.open(path, mode="w")
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    self._stream = self._container.add_stream(
        codec, rate=Fraction(fps).limit_denominator(1001))
    self._stream.pix_fmt = "yuv420p"
    self._size = None

  def write(self, rgb: np.ndarray) -> None:
    h, w = rgb.shape[:2]
    if self._size is None:
      self._size = (h + h % 2, w + w % 2)
      self._stream.height, self._stream.width = self._size
    padded = np.zeros(self._size + (3,), np.uint8)
    padded[:h, :w] = rgb
    frame = self._av.VideoFrame.from_ndarray(padded, format="rgb24")
    for packet in self._stream.encode(frame):
      self._container.mux(packet)

  def close(self) -> None:
    for packet in self._stream.encode():
      self._container.mux(packet)
    self._container.close()


class GifPreview:
  """Keeps at most `max_frames` small frames (every `stride`-th offered) for a GIF."""

  def __init__(self, max_frames: int = 60, stride: int = 1, width: int = 480):
    self.max_frames, self.stride, self.width = max_frames, max(1, stride), width
    self._frames: List[Image.Image] = []
    self._offered = 0

  def offer(self, rgb: np.ndarray) -> None:
    take = self._offered % self.stride == 0 and len(self._frames) < self.max_frames
    self._offered += 1
    if take:
      image = Image.fromarray(rgb)
      if image.width > self.width:
        image = image.resize((self.width, round(image.height * self.width / image.width)),
                             Image.BILINEAR)
      self._frames.append(image)

  def save(self, path: str, fps: float) -> int:
    """Writes the GIF; returns its number of frames (0: nothing written)."""
    if not self._frames:
      return 0
    duration = int(round(1000.0 * self.stride / max(fps, 1e-3)))
    self._frames[0].save(path, save_all=True, append_images=self._frames[1:],
                         duration=max(duration, 20), loop=0)
    return len(self._frames)
