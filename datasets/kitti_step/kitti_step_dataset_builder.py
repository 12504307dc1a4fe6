"""TFDS builder for KITTI-STEP (and STEP-format trees such as the synthetic set).

One example per frame, stored in (sequence, frame) order so clips can be
formed later:
  image          [H, W, 3] uint8, the source PNG bytes unchanged.
  panoptic_label [H, W, 3] uint8, the source label PNG unchanged
                 (R = semantic id, G * 256 + B = instance id, see label_codec);
                 all void (255, 0, 0) for unlabelled splits.
  has_label      bool.
  sequence_id    int32, frame_index int32.
  thing_ids      [K] int32 sorted panoptic ids (semantic * 1000 + instance) of
                 the person/car instances in the frame (crowd excluded), so a
                 sampler can pick reference frames without decoding labels.
  file_name      the image path relative to the manual dir.

Build from Python (the `tfds` CLI needs apache_beam): see datasets/build.py.
"""
import dataclasses
import io

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image as PILImage

from video_knet_jax.datasets.kitti_step import errors
from video_knet_jax.datasets.kitti_step import facts as facts_lib
from video_knet_jax.datasets.kitti_step import label_codec
from video_knet_jax.datasets.kitti_step import layout

# Integer example keys keep (sequence, frame) order with disable_shuffling.
_KEY_STRIDE = 1_000_000


@dataclasses.dataclass(eq=False)
class StepConfig(tfds.core.BuilderConfig):
  """A STEP-format data set described by its frozen facts record."""
  facts: facts_lib.StepFacts = dataclasses.field(
      default=facts_lib.KITTI_STEP, repr=False)


class Builder(tfds.core.GeneratorBasedBuilder):
  """KITTI-STEP video panoptic segmentation, one example per frame."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "Initial release.",
                   "1.1.0": "Same examples; prepared as ArrayRecord (random "
                            "access) by video_knet_jax.data.prepare."}
  BUILDER_CONFIGS = [StepConfig(name="kitti_step",
                                description="KITTI-STEP (manual download).")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  KITTI-STEP cannot be downloaded by script. Place it in the manual dir in one
  of two layouts (see docs/DATA.md for the full recipe):
    DeepLab2:    images/{train,val,test}/<seq %04d>/<frame %06d>.png
                 panoptic_maps/{train,val}/<seq %04d>/<frame %06d>.png
    Video K-Net: video_sequence/{train,val,test}/<seq %06d>_<frame %06d>_leftImg8bit.png
                 video_sequence/{train,val}/<seq %06d>_<frame %06d>_panoptic.png
  """

  @property
  def facts(self) -> facts_lib.StepFacts:
    return self.builder_config.facts

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=("STEP video panoptic segmentation frames "
                     f"({self.facts.name}); label R = semantic, "
                     "G*256+B = instance."),
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(None, None, 3),
                                         encoding_format="png"),
            "panoptic_label": tfds.features.Image(shape=(None, None, 3),
                                                  encoding_format="png"),
            "has_label": np.bool_,
            "sequence_id": np.int32,
            "frame_index": np.int32,
            "thing_ids": tfds.features.Tensor(shape=(None,), dtype=np.int32),
            "file_name": tfds.features.Text(),
        }),
        homepage="https://www.cvlibs.net/datasets/kitti/eval_step.php",
        disable_shuffling=True,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    try:
      manual_dir = dl_manager.manual_dir
    except AssertionError as e:  # TFDS's message names the dir and how-to.
      raise errors.MissingManualDirError(str(e)) from e
    layout.detect_layout(manual_dir)
    generators = {}
    for split in self.facts.splits:
      labelled = split in self.facts.labelled_splits
      frames = layout.find_frames(manual_dir, split, labelled)
      _check_membership(self.facts, manual_dir, split, frames)
      generators[split] = self._generate_examples(manual_dir, frames, labelled)
    return generators

  def _generate_examples(self, manual_dir, frames, labelled):
    for frame in frames:
      image_bytes, (height, width) = _read_png(frame.image_path, mode="RGB")
      if labelled:
        label_bytes, label_size = _read_png(frame.label_path, mode="RGB")
        if label_size != (height, width):
          raise errors.BadPngError(
              f"Label {frame.label_path} is {label_size[0]}x{label_size[1]} "
              f"but its image {frame.image_path} is {height}x{width}.")
        rgb = np.asarray(PILImage.open(io.BytesIO(label_bytes)))
        semantic, instance = label_codec.decode_rgb_label(rgb)
        _check_label_values(self.facts, frame.label_path, semantic, instance)
        thing_ids = _thing_ids(self.facts, semantic, instance)
      else:
        label_bytes = _encode_png(label_codec.encode_rgb_label(
            np.full((height, width), self.facts.void_label),
            np.zeros((height, width), np.int64)))
        thing_ids = np.zeros((0,), np.int32)
      key = frame.sequence_id * _KEY_STRIDE + frame.frame_index
      yield key, {
          "image": image_bytes,
          "panoptic_label": label_bytes,
          "has_label": labelled,
          "sequence_id": frame.sequence_id,
          "frame_index": frame.frame_index,
          "thing_ids": thing_ids,
          "file_name": str(frame.image_path.relative_to(manual_dir)),
      }


def _read_png(path, mode: str) -> tuple[bytes, tuple[int, int]]:
  """Returns the file's bytes and (H, W) after checking it decodes fully."""
  data = path.read_bytes()
  try:
    with PILImage.open(io.BytesIO(data)) as img:
      fmt, img_mode, (width, height) = img.format, img.mode, img.size
      img.load()  # Decodes every row: catches truncated / corrupt files.
  except Exception as e:  # PIL raises several unrelated types here.
    raise errors.BadPngError(f"Cannot decode PNG {path}: {e}") from e
  if fmt != "PNG" or img_mode != mode:
    raise errors.BadPngError(
        f"{path} is a {fmt} image in mode {img_mode}; expected an 8-bit "
        f"{mode} PNG.")
  return data, (height, width)


def _encode_png(array: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  PILImage.fromarray(array).save(buffer, format="PNG")
  return buffer.getvalue()


def _check_label_values(facts, path, semantic, instance) -> None:
  values = set(np.unique(semantic).tolist())
  bad = sorted(values - facts.valid_label_values())
  if bad:
    raise errors.BadLabelValueError(
        f"Label {path} has semantic ids {bad[:10]} outside "
        f"0..{facts.num_classes - 1} and {facts.void_label}.")
  if instance.max(initial=0) >= facts.label_divisor:
    raise errors.BadLabelValueError(
        f"Label {path} has instance id {int(instance.max())} >= "
        f"{facts.label_divisor}; panoptic ids would collide.")


def _thing_ids(facts, semantic, instance) -> np.ndarray:
  is_thing = np.isin(semantic, facts.thing_ids) & (instance > 0)
  ids = label_codec.panoptic_ids(semantic[is_thing], instance[is_thing])
  return np.unique(ids).astype(np.int32)


def _check_membership(facts, manual_dir, split, frames) -> None:
  """The split must hold exactly the facts' sequences and frame count."""
  found = sorted({f.sequence_id for f in frames})
  expected = sorted(facts.split_sequences[split])
  if found != expected:
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    raise errors.MissingSplitError(
        f"Split {split!r} under {manual_dir}: sequences missing {missing}, "
        f"unexpected {extra} (expected {facts.name} membership {expected}).")
  if len(frames) != facts.split_frames[split]:
    raise errors.MissingSplitError(
        f"Split {split!r} under {manual_dir}: found {len(frames)} frames, "
        f"{facts.name} has {facts.split_frames[split]}.")
