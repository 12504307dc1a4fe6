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

import tensorflow_datasets as tfds

from video_knet_jax.datasets import builder_base
from video_knet_jax.datasets import frame_examples
from video_knet_jax.datasets.kitti_step import errors
from video_knet_jax.datasets.kitti_step import facts as facts_lib
from video_knet_jax.datasets.kitti_step import label_codec
from video_knet_jax.datasets.kitti_step import layout


@dataclasses.dataclass(eq=False)
class StepConfig(tfds.core.BuilderConfig):
  """A STEP-format data set described by its frozen facts record."""
  facts: facts_lib.StepFacts = dataclasses.field(
      default=facts_lib.KITTI_STEP, repr=False)


class Builder(builder_base.FrameBuilder):
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

  DESCRIPTION = ("STEP video panoptic segmentation frames ({name}); label "
                 "R = semantic, G*256+B = instance.")
  HOMEPAGE = "https://www.cvlibs.net/datasets/kitti/eval_step.php"

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    manual_dir = self._manual_dir(dl_manager)
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
      image_bytes, _, size = frame_examples.read_image(
          frame.image_path, ("PNG",), ("RGB",))
      key = frame_examples.example_key(frame.sequence_id, frame.frame_index)
      common = dict(sequence_id=frame.sequence_id,
                    frame_index=frame.frame_index,
                    file_name=str(frame.image_path.relative_to(manual_dir)))
      if not labelled:
        yield key, frame_examples.unlabelled_example(self.facts, image_bytes,
                                                     size, **common)
        continue
      label_bytes, rgb, label_size = frame_examples.read_image(
          frame.label_path, ("PNG",), ("RGB",))
      frame_examples.check_same_size(frame.label_path, label_size,
                                     frame.image_path, size)
      semantic, instance = label_codec.decode_rgb_label(rgb)
      frame_examples.check_semantic_ids(self.facts, frame.label_path, semantic)
      if instance.max(initial=0) >= self.facts.label_divisor:
        raise errors.BadLabelValueError(
            f"Label {frame.label_path} has instance id {int(instance.max())} "
            f">= {self.facts.label_divisor}; panoptic ids would collide.")
      # The source label PNG is stored unchanged (not re-encoded).
      yield key, {"image": image_bytes, "panoptic_label": label_bytes,
                  "has_label": True,
                  "thing_ids": frame_examples.thing_ids(self.facts, semantic,
                                                        instance),
                  **common}


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
