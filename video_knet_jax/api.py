"""Python API: a trained or converted Video K-Net on your own video or frames.

  from video_knet_jax import api
  model = api.load_model("configs/kitti_step.py", "/path/to/checkpoint")
  for frame in model.predict_video("clip.mp4"):       # or a frame folder / glob
    print(frame.index, frame.panoptic.shape, frame.scores)   # {track id: score}
  result, state = model.predict_frame(rgb, model.initial_state())

`predict_frame` carries everything one frame hands to the next (the previous
frame's kernels, the tracker's memory, the frame counter) in an explicit,
immutable `PredictState`: pass the returned state with the next frame, or
`initial_state()` to start a new video. `predict_video` streams: one decoded
frame is held at a time.
"""
import collections
import dataclasses
import importlib.util
import os
from typing import Any, Dict, Iterator, Optional, Tuple, Union

import jax
import numpy as np

from video_knet_jax.inference import predictor as predictor_lib
from video_knet_jax.inference import video_io

# panoptic = semantic * LABEL_DIVISOR + track id (room for the KITTI-STEP PNG's ids).
LABEL_DIVISOR = 2**16


class CheckpointError(ValueError):
  """The checkpoint is missing, unreadable, or does not fit the config."""


@dataclasses.dataclass(frozen=True)
class PredictState:
  """What one frame hands to the next. `initial_state()` starts a video."""
  previous_kernels: Optional[jax.Array] = None   # [1, N, D] last frame's kernels.
  tracker: Any = None                            # tracker memory (fixed-size arrays).
  frame_index: int = 0                           # frames seen so far.
  padded_hw: Optional[Tuple[int, int]] = None    # the video's padded input size.


@dataclasses.dataclass
class PredictedFrame:
  """One predicted frame, at the size it was predicted (after `test_scale`)."""
  index: int                 # frame number in the source (before --every_n).
  image: np.ndarray          # [H, W, 3] uint8 RGB that was predicted.
  semantic: np.ndarray       # [H, W] int32 class (trainId), 255 = void.
  ids: np.ndarray            # [H, W] int32 track id, 0 = none (stuff, void).
  scores: Dict[int, float]   # track id -> class score of its segment.

  @property
  def panoptic(self) -> np.ndarray:
    """[H, W] int64 semantic * 2**16 + track id."""
    return predictor_lib.panoptic_label(self.semantic, self.ids, LABEL_DIVISOR)


def load_config(config: Union[str, Any]):
  """A ConfigDict, or 'path/to/config.py[:arg]' (as --config takes it)."""
  if not isinstance(config, str):
    return config
  path, _, arg = config.partition(":")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no such config file.")
  spec = importlib.util.spec_from_file_location(
      f"_vknet_config_{os.path.splitext(os.path.basename(path))[0]}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def class_names(config) -> Tuple[str, ...]:
  """config.data.class_names if given, else the Cityscapes names for 19 classes."""
  names = config.data.get("class_names", None)
  if names:
    return tuple(names)
  from video_knet_jax.datasets.kitti_step import facts  # pylint: disable=g-import-not-at-top
  if config.data.num_classes == len(facts.CITYSCAPES_CLASS_NAMES):
    return facts.CITYSCAPES_CLASS_NAMES
  return tuple(f"class {i}" for i in range(config.data.num_classes))


def _first_line(error: Exception) -> str:
  text = str(error).strip().splitlines()
  return f"{type(error).__name__}: {text[0] if text else ''}"


def load_checked_variables(config, checkpoint: str, step: Optional[int] = None) -> dict:
  """Variables of `checkpoint` (variables dir, training workdir or 'random'),
  checked leaf by leaf against the model `config` builds.

  Raises:
    CheckpointError: missing or unreadable, or a missing/extra/reshaped leaf.
  """
  from flax import traverse_util  # pylint: disable=g-import-not-at-top
  from video_knet_jax.convert import model_variables  # pylint: disable=g-import-not-at-top
  if checkpoint != model_variables.RANDOM and not os.path.isdir(checkpoint):
    raise CheckpointError(f"{checkpoint}: no such checkpoint directory.")
  try:
    variables = model_variables.load_variables(config, checkpoint, step)
  except Exception as e:  # pylint: disable=broad-except  # Orbax raises many kinds.
    raise CheckpointError(f"{checkpoint}: not a readable checkpoint ({_first_line(e)})."
                          ) from None
  want = traverse_util.flatten_dict(model_variables.abstract_variables(config), sep="/")
  have = traverse_util.flatten_dict(variables, sep="/")
  problems = [f"{k} missing" for k in sorted(set(want) - set(have))]
  problems += [f"{k} not in the model" for k in sorted(set(have) - set(want))]
  problems += [f"{k} is {tuple(np.shape(have[k]))}, the config needs {tuple(want[k].shape)}"
               for k in sorted(set(want) & set(have))
               if tuple(np.shape(have[k])) != tuple(want[k].shape)]
  if problems:
    more = f" (and {len(problems) - 2} more)" if len(problems) > 2 else ""
    raise CheckpointError(f"{checkpoint}: does not fit the config: "
                          f"{'; '.join(problems[:2])}{more}.")
  return variables


class VideoModel:
  """A model with its variables, predicting frames of one video at a time."""

  def __init__(self, config, variables, association: str = "embedding", model=None):
    """`model`: default `video_knet.build_model(config)`."""
    if model is None:
      from video_knet_jax.models import video_knet  # pylint: disable=g-import-not-at-top
      model = video_knet.build_model(config)
    self.config = config
    self.class_names = class_names(config)
    self.test_scale = tuple(config.inference.get("test_scale", ()) or ())
    self.predictor = predictor_lib.VideoPredictor(model, variables, config,
                                                  association=association)

  def initial_state(self) -> PredictState:
    return PredictState()

  def prepare(self, rgb: np.ndarray) -> np.ndarray:
    """[H, W, 3] uint8 RGB resized to the config's test scale."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[-1] != 3:
      raise ValueError(f"expected an [H, W, 3] uint8 RGB frame, got {rgb.dtype} {rgb.shape}.")
    return video_io.resize_to_scale(rgb, self.test_scale)

  def predict_frame(self, rgb: np.ndarray, state: PredictState,
                    index: Optional[int] = None) -> Tuple[PredictedFrame, PredictState]:
    """One frame of the video that `state` belongs to -> (result, next state)."""
    rgb = self.prepare(rgb)
    image, hw = self.predictor.preprocess(rgb)
    padded = tuple(image.shape[1:3])
    tracker = state.tracker
    if tracker is None:
      tracker = self.predictor.init_tracker_state(padded)
    elif padded != state.padded_hw:
      raise ValueError(f"frame pads to {padded}, the video to {state.padded_hw}: frames of "
                       "one video must share a size (start a new state for a new video).")
    semantic, ids, kernels, tracker, segments = self.predictor.step_with_scores(
        image, hw, state.previous_kernels, tracker, state.frame_index)
    result = predictor_lib.fetch_result(semantic, ids, hw, state.frame_index, segments)
    frame = PredictedFrame(index=state.frame_index if index is None else index, image=rgb,
                           semantic=result.semantic, ids=result.ids, scores=result.scores)
    return frame, PredictState(kernels, tracker, state.frame_index + 1, padded)

  def predict_video(self, path: str, *, start: int = 0, every_n: int = 1,
                    max_frames: Optional[int] = None) -> Iterator[PredictedFrame]:
    """Frames start, start + every_n, ... of a video file, frame folder or glob."""
    return self.predict_source(video_io.open_frames(
        path, start=start, every_n=every_n, max_frames=max_frames))

  def predict_source(self, source: video_io.FrameSource) -> Iterator[PredictedFrame]:
    """`predict_video` on an opened `video_io.FrameSource`."""
    # The predictor reads frame t + 1 before returning frame t (device and
    # host overlap), so at most two decoded frames wait here.
    waiting = collections.deque()

    def frames():
      size = None
      for index, rgb in source.frames():
        rgb = self.prepare(rgb)
        if size is None:
          size = rgb.shape
        elif rgb.shape != size:
          raise video_io.InputError(f"{source.path}: frame {index} is {rgb.shape[1]}x"
                                    f"{rgb.shape[0]}, the video {size[1]}x{size[0]}.")
        waiting.append((index, rgb))
        yield rgb
    for result in self.predictor.predict_sequence(frames()):
      index, rgb = waiting.popleft()
      yield PredictedFrame(index=index, image=rgb, semantic=result.semantic, ids=result.ids,
                           scores=result.scores)


def load_model(config: Union[str, Any], checkpoint: str, *, step: Optional[int] = None,
               association: str = "embedding") -> VideoModel:
  """`config` (ConfigDict or 'file.py[:arg]') + checkpoint (variables dir from
  `convert import`, training workdir, or 'random') -> `VideoModel`."""
  config = load_config(config)
  from video_knet_jax import tasks  # pylint: disable=g-import-not-at-top
  tasks.base.require(tasks.get(config), config, "predict", "predicting a video")
  return VideoModel(config, load_checked_variables(config, checkpoint, step),
                    association=association)
