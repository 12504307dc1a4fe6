r"""Dumps the raw last-stage outputs of chosen frames to .npz (a parity-debugging aid).

  python -m video_knet_jax.convert.dump_outputs --config=configs/kitti_step.py \
      --checkpoint=DIR --frames=2:0,2:1,2:5 --output=/tmp/outputs.npz
  python -m video_knet_jax.convert.dump_outputs --config=... --checkpoint=random \
      --images=a.png,b.png --output=/tmp/outputs.npz   # one sequence, in order

Frames run in order from the start of each sequence (the previous frame's
KERNELS feed the next frame's link, as at test time), so a frame's dump
equals what evaluation computes for it. For each requested frame the file
holds `s{seq}_f{frame}/{key}` for key in `DUMP_KEYS` (no batch axis; masks
at stride 8 of the padded canvas) plus `s{seq}_f{frame}/image` with
`--include_images`, and `frames` [F, 2] (sequence, frame) in dump order.
"""
import os
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags
import numpy as np

from video_knet_jax import common
from video_knet_jax.convert import model_variables
from video_knet_jax.models import video_knet

DUMP_KEYS = (common.MASK_LOGITS, common.CLS_LOGITS, common.KERNELS, common.TRACK_KERNELS,
             common.TRACK_EMBEDDINGS)

def parse_frames(spec: str) -> dict[int, set[int]]:
  """'2:0,2:5,7:3' -> {2: {0, 5}, 7: {3}}."""
  wanted: dict[int, set[int]] = {}
  for item in filter(None, (s.strip() for s in spec.split(","))):
    try:
      seq, frame = (int(x) for x in item.split(":"))
    except ValueError:
      raise ValueError(f"--frames: {item!r} is not 'sequence:frame'.") from None
    wanted.setdefault(seq, set()).add(frame)
  if not wanted:
    raise ValueError("--frames is empty.")
  return wanted


def dump_outputs(model, variables, sequences: Iterable[tuple[int, Iterable[Mapping[str, Any]]]],
                 wanted: Mapping[int, set[int]], *, include_images: bool = False
                 ) -> dict[str, np.ndarray]:
  """Runs each wanted sequence from its first frame and collects wanted frames' outputs.

  Args:
    model, variables: the Flax model and its variables.
    sequences: (sequence_id, frames) with frame dicts holding IMAGE [H, W, 3]
      (normalised, padded to a multiple of 32) and FRAME_INDEX, as from
      `panoptic_clips.iterate_eval_sequences`.
    wanted: sequence_id -> frame indices to keep.

  Raises:
    ValueError: a requested sequence/frame does not exist.
  """
  apply = jax.jit(lambda v, x, prev: model.apply(v, x, prev))
  arrays: dict[str, np.ndarray] = {}
  order = []
  found: dict[int, set[int]] = {}
  done: set[int] = set()
  seen = []
  for seq, frames in sequences:
    seen.append(seq)
    if seq not in wanted:
      continue
    done.add(seq)
    last = max(wanted[seq])
    previous = None
    for frame in frames:
      index = int(frame[common.FRAME_INDEX])
      if index > last:
        break
      out = apply(variables, np.asarray(frame[common.IMAGE], np.float32)[None], previous)
      previous = out[common.KERNELS]
      if index in wanted[seq]:
        prefix = f"s{seq}_f{index}/"
        for key in DUMP_KEYS:
          arrays[prefix + key] = np.asarray(out[key][0], np.float32)
        if include_images:
          arrays[prefix + "image"] = np.asarray(frame[common.IMAGE], np.float32)
        order.append((seq, index))
        found.setdefault(seq, set()).add(index)
        logging.info("Dumped sequence %d frame %d.", seq, index)
    if done >= set(wanted):
      break
  lacking = sorted((s, f) for s, fs in wanted.items() for f in fs - found.get(s, set()))
  if lacking:
    raise ValueError(f"Frames not found in the data (sequence, frame): {lacking}; "
                     f"sequences read: {seen}.")
  arrays["frames"] = np.asarray(order, np.int64).reshape(-1, 2)
  return arrays


def frames_from_images(config, paths: Sequence[str]) -> Iterator[dict[str, Any]]:
  """Image files -> eval frame dicts (normalised with config.data.mean/std, zero-padded)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  divisor = int(config.data.size_divisor)
  mean = np.asarray(config.data.mean, np.float32)
  std = np.asarray(config.data.std, np.float32)
  for index, path in enumerate(paths):
    if not os.path.exists(path):
      raise FileNotFoundError(f"--images: no such file {path!r}.")
    rgb = np.asarray(Image.open(path).convert("RGB"), np.float32)
    h, w = rgb.shape[:2]
    ph, pw = -(-h // divisor) * divisor, -(-w // divisor) * divisor
    image = np.zeros((ph, pw, 3), np.float32)
    image[:h, :w] = (rgb - mean) / std
    yield {common.IMAGE: image, common.FRAME_INDEX: index}


def run(config, checkpoint: str, output: str, *, frames: Optional[str] = None,
        images: Optional[str] = None, split: Optional[str] = None,
        include_images: bool = False, step: Optional[int] = None) -> dict[str, np.ndarray]:
  """Dumps `frames` ('seq:frame,...' of `split`) or `images` (comma-separated files)."""
  if bool(frames) == bool(images):
    raise ValueError("Give exactly one of frames (data set) or images (files).")
  model = video_knet.build_model(config)
  variables = model_variables.load_variables(config, checkpoint, step)
  if images:
    paths = [p for p in images.split(",") if p]
    sequences = [(0, frames_from_images(config, paths))]
    wanted = {0: set(range(len(paths)))}
  else:
    from video_knet_jax.data import panoptic_clips  # pylint: disable=g-import-not-at-top
    sequences = panoptic_clips.iterate_eval_sequences(config, split)
    wanted = parse_frames(frames)
  arrays = dump_outputs(model, variables, sequences, wanted, include_images=include_images)
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  np.savez(output, **arrays)
  logging.info("Wrote %d frames to %s.", len(arrays["frames"]), output)
  return arrays


def _define_flags():
  """Flags of the stand-alone entry point (not defined on import)."""
  config_flags.DEFINE_config_file("config", None, "Model/data config file.", lock_config=True)
  flags.DEFINE_string("checkpoint", None, "Variables dir, training workdir, or 'random'.")
  flags.DEFINE_string("frames", None, "seq:frame,... from the eval split.")
  flags.DEFINE_string("split", None, "Split for --frames (default: config.data.eval_split).")
  flags.DEFINE_string("images", None, "Comma-separated image files (one sequence, in order).")
  flags.DEFINE_bool("include_images", False, "Also store the model input.")
  flags.DEFINE_string("output", None, "Output .npz file.")


def main(argv):
  del argv
  f = flags.FLAGS
  if f.config is None or not f.checkpoint or not f.output:
    raise app.UsageError("--config, --checkpoint and --output are required.")
  if bool(f.frames) == bool(f.images):
    raise app.UsageError("Give exactly one of --frames (data set) or --images (files).")
  run(f.config, f.checkpoint, f.output, frames=f.frames, images=f.images, split=f.split,
      include_images=f.include_images)


if __name__ == "__main__":
  _define_flags()
  app.run(main)
