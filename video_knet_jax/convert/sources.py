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
SWIN_IMAGENET = "swin_imagenet"
SEMANTIC_KNET = "semantic_knet"
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


# Official Swin classification checkpoints (`{'model': state_dict}`): the same
# names as the original's backbone (extensions section 1.5) without 'backbone.'.
_SWIN_DROPPED = (
    (re.compile(r"^head\."), "ImageNet classifier (no counterpart)"),
    (re.compile(r"^norm\.(?:weight|bias)$"),
     "final LayerNorm of the classifier (the detector has its own norm0..norm3)"),
    (re.compile(r"\.attn_mask$"), "shift attention mask buffer (rebuilt from the input shape)"),
)


def _swin_imagenet(key: str) -> tuple[Optional[str], str]:
  for pattern, reason in _SWIN_DROPPED:
    if pattern.search(key):
      return None, reason
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
    SWIN_IMAGENET: Source(SWIN_IMAGENET, "official ImageNet Swin Transformer (swin_*_22k.pth)",
                          _swin_imagenet, re.compile(r"^(?!backbone\.)|^backbone\.norm\d\.")),
    SEMANTIC_KNET: Source(SEMANTIC_KNET, "semantic K-Net (mmseg EncoderDecoder: decode_head "
                          "with kernel_update_head stages)", _identity, None),
}


def detect(state_dict: Mapping[str, object], path: str = "") -> str:
  """Names the source kind of a state_dict from its keys."""
  keys = list(state_dict)
  if any(k.startswith("decode_head.kernel_update_head.") for k in keys):
    return SEMANTIC_KNET
  if any(k.startswith("backbone.") for k in keys):
    if any(k.startswith("tracker.mask_head.") for k in keys):
      return KNET_TRACK
    if any(reference_keys.TEMPORAL_KEY.match(k) for k in keys):
      return VIDEO_KNET
    return KNET_IMAGE
  # torchvision ResNet, or mmcv's ResNetV1c ImageNet weights (deep stem 'stem.*').
  if (("conv1.weight" in state_dict or "stem.0.weight" in state_dict)
      and any(k.startswith("layer1.0.") for k in keys)):
    return TORCHVISION_RESNET
  if any(k.startswith("patch_embed.") for k in keys) and any(k.startswith("layers.")
                                                             for k in keys):
    return SWIN_IMAGENET
  raise ValueError(
      f"{path or 'state_dict'}: cannot tell what kind of checkpoint this is (first keys: "
      f"{keys[:5]}). Expected an original (Video) K-Net state_dict ('backbone.*', 'neck.*', ...) "
      f"a torchvision ResNet ('conv1.weight', 'layer1.0.*') or an official Swin "
      f"('patch_embed.*', 'layers.*').")


def get(name: str, path: str = "") -> Source:
  if name not in SOURCES:
    raise ValueError(f"{path or 'state_dict'}: unknown source kind {name!r}; expected one of "
                     f"{sorted(SOURCES)} or 'auto'.")
  return SOURCES[name]
