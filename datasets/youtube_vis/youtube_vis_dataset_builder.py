"""TFDS builder for YouTube-VIS 2019 (and trees in its format, e.g. generated).

Reads `<manual_dir>/train/JPEGImages/<video>/<frame>.jpg` and the train
annotation JSON (annotations.JSON_CANDIDATES). Only train has public labels,
so the labelled videos are split locally: sorted by video id, every
`val_every`-th video (indices val_every-1, 2*val_every-1, ...) goes to 'val',
the rest to 'train'. If `valid/JPEGImages` and its JSON exist, an unlabelled
'valid' split (the benchmark server's) is built as well.

One example per annotated frame, stored in (video, frame) order:
  image         [H, W, 3] uint8, the source JPEG bytes unchanged.
  masks         [N, H, W] uint8 0/1, the N instances present on the frame
                (segmentation not null), in annotation order.
  instance_ids  [N] int32 annotation ids (track ids, unique in the data set).
  labels        [N] int32 class index = category_id - 1.
  is_crowd      [N] bool.
  video_id, frame_index (0-based within the video), num_frames: int32.
  file_name     the image path relative to the manual dir.

Build from Python (the `tfds` CLI needs apache_beam): see datasets/build.py.
"""
import dataclasses
import os

import numpy as np
import tensorflow_datasets as tfds

from video_knet_jax.datasets import builder_base
from video_knet_jax.datasets import facts as facts_lib
from video_knet_jax.datasets import frame_examples
from video_knet_jax.datasets.youtube_vis import annotations
from video_knet_jax.datasets.youtube_vis import errors
from video_knet_jax.datasets.youtube_vis import facts as ytvis_facts

_KEY_STRIDE = 1_000_000


@dataclasses.dataclass(eq=False)
class YouTubeVisConfig(tfds.core.BuilderConfig):
  """A YouTube-VIS-format tree; `val_every` sizes the local val split."""
  facts: facts_lib.DatasetFacts = dataclasses.field(
      default=ytvis_facts.YOUTUBE_VIS_2019, repr=False)
  val_every: int = 10


class Builder(builder_base.FrameBuilder):
  """YouTube-VIS video instance segmentation, one example per frame."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [YouTubeVisConfig(
      name="youtube_vis_2019",
      description="YouTube-VIS 2019 (manual download); local train/val "
                  "sub-splits of the labelled train set.")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Download YouTube-VIS 2019 from https://youtube-vos.org/dataset/vis/ and
  place it in the manual dir as
    train/JPEGImages/<video>/<frame>.jpg
    annotations/youtube_vis_2019_train.json   (or train.json)
  and optionally valid/JPEGImages + annotations/youtube_vis_2019_valid.json.
  """

  DESCRIPTION = ("YouTube-VIS-format frames ({name}); per-instance masks, "
                 "labels = category_id - 1.")
  HOMEPAGE = "https://youtube-vos.org/dataset/vis/"
  MANUAL_DIR_ERROR = errors.MissingAnnotationsError

  def _features(self) -> tfds.features.FeaturesDict:
    return tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(None, None, 3),
                                     encoding_format="jpeg"),
        "masks": tfds.features.Tensor(
            shape=(None, None, None), dtype=np.uint8,
            encoding=tfds.features.Encoding.ZLIB),
        "instance_ids": tfds.features.Tensor(shape=(None,), dtype=np.int32),
        "labels": tfds.features.Tensor(shape=(None,), dtype=np.int32),
        "is_crowd": tfds.features.Tensor(shape=(None,), dtype=np.bool_),
        "video_id": np.int32,
        "frame_index": np.int32,
        "num_frames": np.int32,
        "file_name": tfds.features.Text(),
    })

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    manual_dir = os.fspath(self._manual_dir(dl_manager))
    if self.builder_config.val_every < 2:
      raise ValueError(f"val_every={self.builder_config.val_every} must be "
                       ">= 2 (one local val video in val_every).")
    json_path = annotations.find_json(manual_dir, "train")
    videos, instances = annotations.load(json_path, self.facts.num_classes)
    every = self.builder_config.val_every
    val = [v for k, v in enumerate(videos) if k % every == every - 1]
    train = [v for k, v in enumerate(videos) if k % every != every - 1]
    generators = {
        "train": self._generate_examples(manual_dir, "train", json_path,
                                         train, instances),
        "val": self._generate_examples(manual_dir, "train", json_path, val,
                                       instances),
    }
    if os.path.isdir(os.path.join(manual_dir, "valid", "JPEGImages")):
      valid_json = annotations.find_json(manual_dir, "valid")
      valid, valid_instances = annotations.load(valid_json,
                                                self.facts.num_classes)
      generators["valid"] = self._generate_examples(
          manual_dir, "valid", valid_json, valid, valid_instances)
    return generators

  def _generate_examples(self, manual_dir, source_split, json_path, videos,
                         instances):
    for video in videos:
      paths = [os.path.join(manual_dir, source_split, "JPEGImages", name)
               for name in video.file_names]
      missing = [p for p in paths if not os.path.isfile(p)]
      if missing:
        raise errors.MissingFramesError(
            f"{json_path}: video {video.video_id} lists {len(missing)} "
            f"frame(s) not on disk, first {missing[0]}.")
      for t, path in enumerate(paths):
        image_bytes = _read_jpeg(path, video)
        fields = annotations.frame_instances(instances[video.video_id], t,
                                             video, json_path)
        yield video.video_id * _KEY_STRIDE + t, {
            "image": image_bytes,
            **fields,
            "video_id": video.video_id,
            "frame_index": t,
            "num_frames": len(paths),
            "file_name": os.path.relpath(path, manual_dir),
        }


def _read_jpeg(path, video: annotations.Video) -> bytes:
  """The file's bytes after checking it decodes to the video's size."""
  data, _, size = frame_examples.read_image(path, ("JPEG",), ("RGB",),
                                            errors.BadImageError)
  if size != (video.height, video.width):
    raise errors.BadImageError(
        f"{path} is {size[0]}x{size[1]} but video {video.video_id} is "
        f"{video.height}x{video.width} in the JSON.")
  return data
