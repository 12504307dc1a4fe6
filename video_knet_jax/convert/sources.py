"""Kinds of PyTorch checkpoints the importer understands, and how to rename them.

Every source is renamed into the original Video K-Net key space; `key_table`
takes it from there. Detection looks only at key names.
"""
import dataclasses
import re
from typing import Callable, Mapping, Optional

from video_knet_jax.convert import reference_keys

VIDEO_KNET = "video_knet"
KNET_IMAGE = "knet_image"
KNET_TRACK = "knet_track"
TORCHVISION_RESNET = "torchvision_resnet"
SWIN = "swin"
AUTO = "auto"


@dataclasses.dataclass(frozen=True)
class Source:
  """How one checkpoint kind maps into the Video K-Net key space."""
  name: str
  description: str
  # Source key -> Video K-Net torch key, or None to drop it (with a reason).
  rename: Callable[[str], tuple[Optional[str], str]]
  # Model keys this kind never has; in a strict import these may stay at init.
  expected_missing: Optional[re.Pattern]


def _identity(key: str) -> tuple[Optional[str], str]:
  return key, ""


def _torchvision(key: str) -> tuple[Optional[str], str]:
  if key.startswith("fc."):
    return None, "ImageNet classifier (no counterpart)"
  return "backbone." + key, ""


SOURCES: dict[str, Source] = {
    VIDEO_KNET: Source(VIDEO_KNET, "original Video K-Net (VideoKNetQuansiEmbedFCJointTrain)",
                       _identity, None),
    KNET_IMAGE: Source(KNET_IMAGE, "original image K-Net (Cityscapes-STEP / COCO pretraining)",
                       _identity, re.compile(reference_keys.TEMPORAL_KEY.pattern + r"|^tracker\.")),
    KNET_TRACK: Source(KNET_TRACK, "original clip-level KNetTrack (YouTube-VIS)",
                       _identity, None),
    TORCHVISION_RESNET: Source(TORCHVISION_RESNET, "torchvision-layout ImageNet ResNet",
                               _torchvision, re.compile(r"^(?!backbone\.)")),
}


def detect(state_dict: Mapping[str, object], path: str = "") -> str:
  """Names the source kind of a state_dict from its keys."""
  keys = list(state_dict)
  if any(k.startswith("backbone.") for k in keys):
    if any(k.startswith("backbone.patch_embed.") for k in keys):
      _unsupported_swin(path)
    if any(k.startswith("tracker.mask_head.") for k in keys):
      return KNET_TRACK
    if any(reference_keys.TEMPORAL_KEY.match(k) for k in keys):
      return VIDEO_KNET
    return KNET_IMAGE
  if "conv1.weight" in state_dict and any(k.startswith("layer1.0.") for k in keys):
    return TORCHVISION_RESNET
  if any(k.startswith("patch_embed.") for k in keys):
    _unsupported_swin(path)
  raise ValueError(
      f"{path or 'state_dict'}: cannot tell what kind of checkpoint this is (first keys: "
      f"{keys[:5]}). Expected an original (Video) K-Net state_dict ('backbone.*', 'neck.*', ...) "
      f"or a torchvision ResNet ('conv1.weight', 'layer1.0.*').")


def get(name: str, path: str = "") -> Source:
  if name == SWIN:
    _unsupported_swin(path)
  if name not in SOURCES:
    raise ValueError(f"Unknown source kind {name!r}; expected one of {sorted(SOURCES)} or 'auto'.")
  return SOURCES[name]


def _unsupported_swin(path: str):
  raise NotImplementedError(
      f"{path or 'state_dict'} holds a Swin Transformer; the Flax model has no Swin backbone "
      "yet, so there is nothing to import it into.")
