"""TFDS builder for VSPW (and VSPW-format trees such as the generated set).

One example per frame, stored in (video, frame) order so clips can be formed:
  image        [H, W, 3] uint8, the source JPEG bytes unchanged.
  mask         [H, W, 1] uint8, the raw mask PNG (0 = others, 1..124,
               255 = void; label_codec shifts it to train ids); all 255 for
               unlabelled splits (test).
  has_label    bool.
  sequence_id  int32, the video's line in the split file; frame_index int32.
  video        the video directory name; file_name the image path relative
               to the VSPW root.

Build from Python: `python -m datasets.build --dataset=vspw --manual_dir=...`.
"""
import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from video_knet_jax.datasets import builder_base
from video_knet_jax.datasets import frame_examples
from video_knet_jax.datasets.vspw import errors
from video_knet_jax.datasets.vspw import facts as facts_lib
from video_knet_jax.datasets.vspw import label_codec
from video_knet_jax.datasets.vspw import layout

_KEY_STRIDE = 1_000_000   # frames per video < 1e6; keys keep (video, frame) order.


@dataclasses.dataclass(eq=False)
class VspwConfig(tfds.core.BuilderConfig):
  """A VSPW-format data set described by its facts record."""
  facts: facts_lib.VspwFacts = dataclasses.field(default=facts_lib.VSPW, repr=False)


class Builder(builder_base.FrameBuilder):
  """VSPW video semantic segmentation, one example per frame."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [VspwConfig(name="vspw", description="VSPW (manual download).")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Download VSPW (480p recommended) from https://www.vspwdataset.com/ and place
  (or link) it in the manual dir, either directly or as VSPW_480p/:
    {train,val,test}.txt, data/<video>/origin/<frame>.jpg,
    data/<video>/mask/<frame>.png
  """

  DESCRIPTION = "VSPW-format video semantic segmentation frames ({name})."
  HOMEPAGE = "https://www.vspwdataset.com/"
  MANUAL_DIR_ERROR = errors.MissingManualDirError

  def _features(self) -> tfds.features.FeaturesDict:
    return tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
        "mask": tfds.features.Image(shape=(None, None, 1), encoding_format="png"),
        "has_label": np.bool_,
        "sequence_id": np.int32,
        "frame_index": np.int32,
        "video": tfds.features.Text(),
        "file_name": tfds.features.Text(),
    })

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = layout.find_root(self._manual_dir(dl_manager), self.facts.splits)
    generators = {}
    for split in self.facts.splits:
      if not (root / f"{split}.txt").exists():
        continue          # e.g. no test.txt in a train/val download.
      labelled = split in self.facts.labelled_splits
      frames = layout.find_frames(root, split, labelled)
      generators[split] = self._generate_examples(root, frames, labelled)
    return generators

  def _generate_examples(self, root, frames, labelled):
    for frame in frames:
      image_bytes, _, size = frame_examples.read_image(
          frame.image_path, ("JPEG",), ("RGB",), errors.BadMaskError)
      if labelled:
        _, mask, mask_size = frame_examples.read_image(
            frame.mask_path, ("PNG",), ("L", "P"), errors.BadMaskError,
            hint=" (a single-channel mask)")
        if mask_size != size:
          raise errors.BadMaskError(
              f"Mask {frame.mask_path} is {mask_size[0]}x{mask_size[1]} but its frame "
              f"{frame.image_path} is {size[0]}x{size[1]}.")
        bad = sorted(set(np.unique(mask).tolist()) - label_codec.valid_raw_values())
        if bad:
          raise errors.BadMaskValueError(
              f"Mask {frame.mask_path} has values {bad[:10]} outside 0..124 and 255.")
      else:
        mask = np.full(size, label_codec.VOID, np.uint8)
      yield frame.video_index * _KEY_STRIDE + frame.frame_index, {
          "image": image_bytes,
          "mask": mask[..., None],
          "has_label": labelled,
          "sequence_id": frame.video_index,
          "frame_index": frame.frame_index,
          "video": frame.video,
          "file_name": str(frame.image_path.relative_to(root)),
      }

