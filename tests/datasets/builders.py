"""Builds a TFDS builder from a tree in a test's directories, reads it back."""
import json
import os

import tensorflow_datasets as tfds
from etils import epath


def prepare(builder_cls, config, manual_dir, data_dir):
  """`builder_cls(config)` prepared from `manual_dir` into `data_dir`."""
  builder = builder_cls(config=config, data_dir=os.fspath(data_dir))
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=os.fspath(manual_dir)))
  return builder


def read_split(builder, split, skip=()):
  """All examples of a split as numpy dicts, in stored order; the features
  named in `skip` stay encoded (e.g. the JPEG bytes of "image")."""
  decoders = {name: tfds.decode.SkipDecoding() for name in skip} or None
  ds = builder.as_dataset(split=split, shuffle_files=False, decoders=decoders)
  return list(tfds.as_numpy(ds))


def edit_json(path, edit) -> None:
  """Rewrites the JSON file at `path` after `edit(data)` changed it in place."""
  path = epath.Path(path)
  data = json.loads(path.read_text())
  edit(data)
  path.write_text(json.dumps(data))
