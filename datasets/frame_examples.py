"""What every frame-level builder stores, so one input pipeline reads them all.

The Cityscapes-STEP, Cityscapes-VPS and VIPSeg builders convert their own label
encodings into the KITTI-STEP example layout (see
`datasets/kitti_step/kitti_step_dataset_builder.py`):
  image          [H, W, 3] uint8, the source file's bytes unchanged (PNG/JPEG).
  panoptic_label [H, W, 3] uint8 PNG, R = semantic id (the data set's own class
                 order), G * 256 + B = track id (0 = stuff, crowd or void),
                 all (void, 0, 0) for unlabelled frames.
  has_label, sequence_id, frame_index, thing_ids, file_name.
The facts record below is the label-space and split summary each builder
checks its tree against.
"""
import dataclasses
import io
from typing import Mapping

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image as PILImage

from video_knet_jax.datasets import errors
from video_knet_jax.datasets import facts as dataset_facts
from video_knet_jax.datasets.kitti_step import label_codec

# Integer example keys keep (sequence, frame) order with disable_shuffling.
KEY_STRIDE = 1_000_000


@dataclasses.dataclass(frozen=True, kw_only=True)
class PanopticFacts(dataset_facts.DatasetFacts):
  """A (video) panoptic data set: its label space (DatasetFacts) and splits.

  Attributes (besides DatasetFacts'):
    split_videos: split name -> number of videos (images for image sets).
    split_frames: split name -> number of frames stored for it (None: not
      checked).
    labelled_splits: splits that come with panoptic labels.
    frame_height: every image must be this tall (VIPSeg's 720p), or None.
  """
  split_videos: Mapping[str, int]
  split_frames: Mapping[str, int | None]
  labelled_splits: tuple[str, ...]
  frame_height: int | None = None

  @property
  def splits(self) -> tuple[str, ...]:
    return tuple(self.split_videos)

  def check_split_size(self, where, split: str, num_videos: int,
                       num_frames: int) -> None:
    """Raises MissingSplitError unless the split has the facts' size."""
    want = (self.split_videos[split], self.split_frames[split])
    if num_videos != want[0] or want[1] not in (None, num_frames):
      raise errors.MissingSplitError(
          f"Split {split!r} under {where}: found {num_videos} videos / "
          f"{num_frames} frames, {self.name} has {want[0]} / {want[1]}.")


def features(image_format: str = "png") -> tfds.features.FeaturesDict:
  """The per-frame features (image stored in `image_format`, label as PNG)."""
  return tfds.features.FeaturesDict({
      "image": tfds.features.Image(shape=(None, None, 3),
                                   encoding_format=image_format),
      "panoptic_label": tfds.features.Image(shape=(None, None, 3),
                                            encoding_format="png"),
      "has_label": np.bool_,
      "sequence_id": np.int32,
      "frame_index": np.int32,
      "thing_ids": tfds.features.Tensor(shape=(None,), dtype=np.int32),
      "file_name": tfds.features.Text(),
  })


def read_image(path, formats: tuple[str, ...], modes: tuple[str, ...],
               error: type[Exception] = errors.BadPngError,
               hint: str = "") -> tuple[bytes, np.ndarray, tuple[int, int]]:
  """Reads and fully decodes an image file; checks its format and mode.

  Args:
    error: raised, naming the file, when it does not decode or has another
      format or mode (each data set's own error class).
    hint: appended to the format/mode message, e.g. " (a mask)".
  Returns:
    (the file's bytes, the decoded array, (H, W)).
  """
  data = epath.Path(path).read_bytes()
  try:
    with PILImage.open(io.BytesIO(data)) as img:
      fmt, mode, (width, height) = img.format, img.mode, img.size
      array = np.asarray(img)   # decodes every row: catches truncated files.
  except Exception as e:  # PIL raises several unrelated types here.
    raise error(f"Cannot decode image {path}: {e}") from e
  if fmt not in formats or mode not in modes:
    raise error(
        f"{path} is a {fmt} image in mode {mode}; expected a "
        f"{'/'.join(formats)} image in mode {'/'.join(modes)}{hint}.")
  return data, array, (height, width)


def check_same_size(label_path, label_size, image_path, image_size) -> None:
  if tuple(label_size) != tuple(image_size):
    raise errors.BadPngError(
        f"Label {label_path} is {label_size[0]}x{label_size[1]} but its image "
        f"{image_path} is {image_size[0]}x{image_size[1]}.")


def check_height(facts: PanopticFacts, path, size) -> None:
  if facts.frame_height is not None and size[0] != facts.frame_height:
    raise errors.BadPngError(
        f"{path} is {size[0]} pixels tall; {facts.name} frames must be "
        f"{facts.frame_height} (run the data set's resize script first, see "
        "docs/DATA.md).")


def encode_png(array: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  PILImage.fromarray(array).save(buffer, format="PNG")
  return buffer.getvalue()


def example_key(sequence_id: int, frame_index: int) -> int:
  return int(sequence_id) * KEY_STRIDE + int(frame_index)


def labelled_example(facts: PanopticFacts, label_path, image_bytes: bytes,
                     semantic: np.ndarray, instance: np.ndarray, *,
                     sequence_id: int, frame_index: int,
                     file_name: str) -> dict:
  """One frame with its label, after checking the ids (naming `label_path`).

  Args:
    semantic: [H, W] semantic ids in 0..num_classes-1 or the void label.
    instance: [H, W] track ids, 0 where there is none.
  """
  semantic = np.asarray(semantic, np.int64)
  instance = np.asarray(instance, np.int64)
  check_semantic_ids(facts, label_path, semantic)
  if instance.max(initial=0) >= facts.label_divisor:
    raise errors.IdCollisionError(
        f"Label {label_path}: track id {int(instance.max())} >= "
        f"{facts.label_divisor}; panoptic ids would collide.")
  return {
      "image": image_bytes,
      "panoptic_label": encode_png(label_codec.encode_rgb_label(semantic,
                                                                instance)),
      "has_label": True,
      "sequence_id": int(sequence_id),
      "frame_index": int(frame_index),
      "thing_ids": thing_ids(facts, semantic, instance),
      "file_name": file_name,
  }


def check_semantic_ids(facts: dataset_facts.DatasetFacts, label_path,
                       semantic: np.ndarray) -> None:
  """Raises BadLabelValueError naming `label_path` for ids not in the facts."""
  bad = sorted(set(np.unique(semantic).tolist()) - facts.valid_label_values())
  if bad:
    raise errors.BadLabelValueError(
        f"Label {label_path} has semantic ids {bad[:10]} outside "
        f"0..{facts.num_classes - 1} and {facts.void_label}.")


def thing_ids(facts: dataset_facts.DatasetFacts, semantic: np.ndarray,
              instance: np.ndarray) -> np.ndarray:
  """[K] int32 sorted panoptic ids of the frame's thing instances (no crowd)."""
  is_thing = np.isin(semantic, facts.thing_ids) & (instance > 0)
  ids = label_codec.panoptic_ids(semantic[is_thing], instance[is_thing])
  return np.unique(ids).astype(np.int32)


def unlabelled_example(facts: PanopticFacts, image_bytes: bytes,
                       size: tuple[int, int], *, sequence_id: int,
                       frame_index: int, file_name: str) -> dict:
  """One frame without a label: an all-void label of the image's size."""
  void = np.full(size, facts.void_label)
  return {
      "image": image_bytes,
      "panoptic_label": encode_png(label_codec.encode_rgb_label(
          void, np.zeros(size, np.int64))),
      "has_label": False,
      "sequence_id": int(sequence_id),
      "frame_index": int(frame_index),
      "thing_ids": np.zeros((0,), np.int32),
      "file_name": file_name,
  }

