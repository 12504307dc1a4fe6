"""Online video prediction: model + panoptic merge + association, one frame at a time.

`VideoPredictor.step` is one jitted function of (image, previous kernels,
tracker state); everything it carries between frames is an explicit value of
fixed size, so host and device memory stay constant over a video. Each frame
is padded (bottom/right, after normalisation) as the original does at test
time: to the smallest multiple of config.data.size_divisor (32) of its own
size. GroupNorm statistics, the positional encoding and mask pooling all see
the padding, so a larger canvas changes the predictions. The true image size
is a traced value and jax.jit keeps one compiled function per padded size
(plus one for the first frame, which has no previous kernels). With
config.inference.fixed_canvas every frame is padded to config.data.eval_size
instead (one static shape, e.g. for an exported model).

Association embeddings follow the config: the kernel embedding's
TRACK_EMBEDDINGS (the release); a mask-based `config.model.temporal.embedding`
embeds each kept thing segment's mask after the merge (`VideoKNet.embed_masks`,
no semantic filter on its box, as the original's RoI / Mask-Emb detectors);
an image K-Net (`temporal.enabled=False`) hands its raw thing kernels to the
tracker, the paper's "toy" row (`knet_quansi_dense_embed_fc_toy_exp.py`).
`config.tracker.match_metric` and `config.inference.merge` pick the tracker's
score and the panoptic merge.

Outputs per frame: `semantic` [H0, W0] int32 trainId (255 = void), `ids`
[H0, W0] int32 track id (0 = none: stuff, void, untracked things) and
`panoptic` = semantic * 1000 + ids (void = 255000), the `common.PANOPTIC`
encoding used for evaluation (ids must stay < 1000; the KITTI-STEP PNG holds
ids up to 65535).
"""
import dataclasses
from typing import Any, Dict, Iterable, Iterator, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from video_knet_jax import common
from video_knet_jax import shapes
from video_knet_jax.inference import boxes as boxes_lib
from video_knet_jax.inference import mask_iou_tracker
from video_knet_jax.inference import panoptic_merge
from video_knet_jax.inference import tracker as tracker_lib
from video_knet_jax.models import video_knet

LABEL_DIVISOR = 1000  # panoptic = semantic * LABEL_DIVISOR + track id.
ASSOCIATIONS = ("embedding", "mask_iou")


def panoptic_label(semantic: np.ndarray, ids: np.ndarray,
                   label_divisor: int = LABEL_DIVISOR) -> np.ndarray:
  """semantic * label_divisor + id; refuses ids that would collide with the next class."""
  ids = np.asarray(ids)
  if ids.size and ids.max() >= label_divisor:
    raise ValueError(f"track id {int(ids.max())} >= label_divisor {label_divisor}: "
                     "pass a larger label_divisor.")
  return np.asarray(semantic).astype(np.int64) * label_divisor + ids


@dataclasses.dataclass
class FrameResult:
  """Host-side prediction of one frame, cropped to the image size."""
  semantic: np.ndarray   # [H0, W0] int32 trainId, 255 = void.
  ids: np.ndarray        # [H0, W0] int32 track id, 0 = none.
  frame_index: int = 0   # the tracker's frame number.
  # Track id -> class score of its segment, for the ids in `ids`.
  scores: Dict[int, float] = dataclasses.field(default_factory=dict)

  @property
  def panoptic(self) -> np.ndarray:
    """[H0, W0] int64 semantic * 1000 + id (`common.PANOPTIC`); raises if an id
    reached 1000 (long videos: use `panoptic_label` with a larger divisor)."""
    return panoptic_label(self.semantic, self.ids)


def padded_size(image_hw: Tuple[int, int], canvas_hw: Optional[Tuple[int, int]],
                size_divisor: int) -> Tuple[int, int]:
  """The padded input size of an [H0, W0] frame.

  canvas_hw None (the original's rule): (H0, W0) rounded up to size_divisor.
  Else the canvas (as `data.panoptic_clips.eval_canvas_size`: rounded up to
  size_divisor) if the image fits, else the image size rounded up.
  """
  if canvas_hw is None:
    return shapes.round_up(image_hw, size_divisor)
  return shapes.round_up([max(s, c) for s, c in zip(image_hw, canvas_hw)],
                         size_divisor)


def config_canvas(config) -> Optional[Tuple[int, int]]:
  """config.data.eval_size if config.inference.fixed_canvas, else None (per video)."""
  if config.inference.get("fixed_canvas", False):
    return tuple(int(v) for v in config.data.eval_size)
  return None


class VideoPredictor:
  """Streams frames of one or more videos through Video K-Net.

  Args:
    model: a flax module whose `apply(variables, images [B, H, W, 3],
      previous_kernels=None|[B, N, D], train=False)` returns the
      `common.*` output dict (MASK_LOGITS, CLS_LOGITS, RPN_SEG_LOGITS, KERNELS,
      TRACK_EMBEDDINGS).
    variables: the model variables.
    config: the experiment config (data, model, inference, tracker fields).
    association: 'embedding' (quasi-dense tracker, the original) or 'mask_iou'.
  """

  def __init__(self, model: Any, variables: Any, config, association: str = "embedding"):
    if association not in ASSOCIATIONS:
      raise ValueError(f"association={association!r}; expected one of {ASSOCIATIONS}.")
    self.model = model
    self.variables = variables
    self.config = config
    self.association = association
    self.merge_settings = panoptic_merge.merge_settings_from_config(config)
    self.num_segments = (
        panoptic_merge.num_thing_candidates(config.model.num_proposals, self.merge_settings)
        + config.model.num_stuff_classes)
    temporal = config.model.temporal.get("enabled", True)
    self.embedding = config.model.temporal.get("embedding", "kernels") if temporal else "toy"
    # The toy row tracks with the raw kernels (D wide), the others with E-wide embeddings.
    self.embed_dim = int(config.model.temporal.embed_channels if temporal
                         else config.model.feat_channels)
    self.mean = np.asarray(config.data.mean, np.float32)
    self.std = np.asarray(config.data.std, np.float32)
    self.canvas = config_canvas(config)
    self.size_divisor = int(config.data.size_divisor)
    if association == "embedding":
      self.tracker_settings = tracker_lib.tracker_settings_from_config(config)
    else:
      self.tracker_settings = mask_iou_tracker.mask_iou_settings_from_config(config)
    self._step = jax.jit(self._frame_fn)

  # ------------------------------------------------------------------ state
  def init_tracker_state(self, padded_hw: Tuple[int, int]):
    """Fresh association memory (call at every sequence start)."""
    if self.association == "embedding":
      return tracker_lib.init_tracker_state(self.tracker_settings, self.num_segments,
                                            self.embed_dim)
    return mask_iou_tracker.init_mask_iou_state(self.tracker_settings, self.num_segments,
                                                padded_hw)

  def frame_arguments(self, padded_hw: Tuple[int, int]) -> tuple:
    """ShapeDtypeStructs of the jitted frame's arguments (`frame_fn`) for a
    padded [H, W] frame in the steady state (previous kernels given):
    (variables, image [1, H, W, 3], image_hw [2], kernels, tracker state,
    frame index). Lowering and benchmarks use them."""
    abstract = lambda tree: jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)), tree)
    variables = abstract(self.variables)
    image = jax.ShapeDtypeStruct((1, *padded_hw, 3), jnp.float32)
    kernels = jax.eval_shape(
        lambda v, x: self.model.apply(v, x, train=False)[common.KERNELS],
        variables, image)
    return (variables, image, jax.ShapeDtypeStruct((2,), jnp.int32), kernels,
            abstract(self.init_tracker_state(padded_hw)),
            jax.ShapeDtypeStruct((), jnp.int32))

  @property
  def frame_fn(self):
    """The jitted frame (model + linking + panoptic merge + tracker):
    (variables, image, image_hw, previous kernels, tracker state, frame
    index) -> (semantic [H, W], ids [H, W], kernels, tracker state,
    (segment ids, segment scores))."""
    return self._step

  def preprocess(self, frame: np.ndarray) -> Tuple[np.ndarray, Tuple[int, int]]:
    """[H0, W0, 3] uint8 RGB -> ([1, H, W, 3] float32 normalised, zero padded; (H0, W0))."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[-1] != 3:
      raise ValueError(f"VideoPredictor: expected an [H, W, 3] RGB frame, got {frame.shape}.")
    return self.pad((frame.astype(np.float32) - self.mean) / self.std)

  def pad(self, normalised: np.ndarray) -> Tuple[np.ndarray, Tuple[int, int]]:
    """[H0, W0, 3] normalised -> ([1, H, W, 3] zero padded by the config's rule; (H0, W0))."""
    h0, w0 = normalised.shape[:2]
    height, width = padded_size((h0, w0), self.canvas, self.size_divisor)
    image = np.zeros((1, height, width, 3), np.float32)
    image[0, :h0, :w0] = normalised
    return image, (h0, w0)

  # -------------------------------------------------------------- one frame
  def _frame_fn(self, variables, image, image_hw, previous_kernels, tracker_state,
                frame_index):
    """Jitted: padded image [1, H, W, 3] -> padded maps [H, W], kernels, tracker state."""
    if self.embedding == "toy":
      previous_kernels = None   # an image K-Net runs each frame on its own.
    mask_embedding = self.association == "embedding" and self.embedding not in ("kernels", "toy")
    if mask_embedding:
      outputs, feats = self.model.apply(variables, image, previous_kernels=previous_kernels,
                                        method=video_knet.VideoKNet.forward_with_features)
    else:
      outputs = self.model.apply(variables, image, previous_kernels=previous_kernels,
                                 train=False)
    padded_hw = image.shape[1:3]
    pan = panoptic_merge.panoptic_merge(
        outputs[common.MASK_LOGITS][0], outputs[common.CLS_LOGITS][0], image_hw,
        padded_hw, self.merge_settings)
    det_valid = pan.segment_kept & pan.segment_is_thing                    # [S]
    if self.association == "embedding":
      thing_filter = None if mask_embedding else boxes_lib.semantic_thing_filter(
          outputs[common.RPN_SEG_LOGITS][0], padded_hw,
          self.merge_settings.num_thing_classes)
      det_boxes = boxes_lib.segment_boxes(pan.segment_map, self.num_segments, thing_filter)
      num_p = self.config.model.num_proposals
      kernel_of_segment = jnp.clip(pan.segment_kernel, 0, num_p - 1)
      if self.embedding == "kernels":
        det_embeds = outputs[common.TRACK_EMBEDDINGS][0][kernel_of_segment]   # [S, E]
      elif self.embedding == "toy":
        det_embeds = outputs[common.KERNELS][0][kernel_of_segment]            # [S, D]
      else:
        segment_masks = ((pan.segment_map[None] == jnp.arange(self.num_segments)[:, None, None])
                         & det_valid[:, None, None])                           # [S, H, W]
        det_embeds = self.model.apply(
            variables, *feats, segment_masks[None],
            outputs[common.TRACK_KERNELS][:, kernel_of_segment],
            method=video_knet.VideoKNet.embed_masks)[0]
      tracker_state, seg_ids = tracker_lib.tracker_step(
          tracker_state, det_embeds, pan.segment_class, pan.segment_score, det_boxes,
          det_valid, frame_index)
    else:
      det_map = jnp.where(
          (pan.segment_map >= 0) & det_valid[jnp.maximum(pan.segment_map, 0)],
          pan.segment_map, -1)
      tracker_state, seg_ids = mask_iou_tracker.mask_iou_tracker_step(
          tracker_state, det_map, pan.segment_class, pan.segment_score, det_valid,
          frame_index)
    id_map = jnp.where(pan.segment_map >= 0, seg_ids[jnp.maximum(pan.segment_map, 0)], 0)
    segment_ids = jnp.where(pan.segment_kept, seg_ids, 0).astype(jnp.int32)      # [S]
    return (pan.semantic, id_map.astype(jnp.int32), outputs[common.KERNELS], tracker_state,
            (segment_ids, pan.segment_score))

  def step(self, image: np.ndarray, image_hw: Tuple[int, int],
           previous_kernels: Optional[jax.Array], tracker_state, frame_index: int):
    """One jitted frame on a padded image.

    Returns:
      (semantic [H, W] int32, ids [H, W] int32 -- padded maps, void outside
      image_hw --, kernels [1, N, D] for the next frame, new tracker state).
    """
    return self.step_with_scores(image, image_hw, previous_kernels, tracker_state,
                                 frame_index)[:4]

  def step_with_scores(self, image: np.ndarray, image_hw: Tuple[int, int],
                       previous_kernels: Optional[jax.Array], tracker_state,
                       frame_index: int):
    """`step`, plus (track id [S] (0 = none), class score [S]) per segment."""
    return self._step(self.variables, jnp.asarray(image),
                      jnp.asarray(image_hw, jnp.int32), previous_kernels,
                      tracker_state, jnp.asarray(frame_index, jnp.int32))

  # -------------------------------------------------------------- sequences
  def predict_sequence(self, frames: Iterable[np.ndarray]) -> Iterator[FrameResult]:
    """Yields one `FrameResult` per [H0, W0, 3] uint8 RGB frame of ONE video.

    State (previous kernels, tracker memory, frame counter) starts fresh on
    every call, like the original on frame 0 of a sequence. Frames are
    numbered 0, 1, ... for the tracker's memory.
    """
    def prepared():
      for frame_index, frame in enumerate(frames):
        image, hw = self.preprocess(frame)
        yield image, hw, frame_index
    return self._run(prepared())

  def predict_eval_sequence(self, frames: Iterable[dict]) -> Iterator[FrameResult]:
    """Like `predict_sequence` for the frame dicts of
    `data.panoptic_clips.iterate_eval_sequences` (IMAGE [Ph, Pw, 3] normalised
    and padded, ORIGINAL_SIZE (H0, W0), FRAME_INDEX used as the tracker's frame
    number, as the original's `fid`). The image is cropped to (H0, W0) and
    padded again by this predictor's rule, so evaluation pads as `predict`.
    """
    def prepared():
      for frame in frames:
        image = np.asarray(frame[common.IMAGE], np.float32)
        if image.ndim == 4:
          image = image[0]
        h0, w0 = (int(v) for v in frame[common.ORIGINAL_SIZE])
        image, hw = self.pad(image[:h0, :w0])
        yield image, hw, int(frame[common.FRAME_INDEX])
    return self._run(prepared())

  def _run(self, prepared) -> Iterator[FrameResult]:
    previous_kernels = None
    tracker_state = None
    canvas = None
    pending = None
    for image, (h0, w0), frame_index in prepared:
      if canvas is None:
        canvas = image.shape[1:3]
        tracker_state = self.init_tracker_state(canvas)
      elif image.shape[1:3] != canvas:
        raise ValueError(f"frame {frame_index} pads to {image.shape[1:3]}, the sequence to "
                         f"{canvas}: frames of one video must share a canvas.")
      semantic, ids, previous_kernels, tracker_state, segments = self.step_with_scores(
          image, (h0, w0), previous_kernels, tracker_state, frame_index)
      if self.embedding == "toy":
        previous_kernels = None   # one compiled step for every frame of an image K-Net.
      # Dispatch is asynchronous: fetch the previous frame while this one runs.
      if pending is not None:
        yield fetch_result(*pending)
      pending = (semantic, ids, (h0, w0), frame_index, segments)
    if pending is not None:
      yield fetch_result(*pending)


def fetch_result(semantic, ids, image_hw, frame_index, segments=None) -> FrameResult:
  """Device maps [H, W] (+ `step_with_scores` segments) -> host `FrameResult`
  cropped to image_hw."""
  h0, w0 = image_hw
  semantic = np.asarray(semantic)[:h0, :w0]
  ids = np.asarray(ids)[:h0, :w0]
  scores = {}
  if segments is not None:
    present = set(np.unique(ids).tolist()) - {0}
    for track_id, score in zip(*(np.asarray(x) for x in segments)):
      if int(track_id) in present:
        scores[int(track_id)] = float(score)
  return FrameResult(semantic=semantic, ids=ids, frame_index=frame_index, scores=scores)
