"""The one declarative table that maps PyTorch Video K-Net names to Flax paths.

Both conversion directions read this file and nothing else about names:

* `MODULE_TABLE` says which torch module (a regex over its dotted path) is
  which kind of layer. The Flax module path is the torch path with '.' -> '/'
  (the naming contract in docs / notes: Flax submodules are named exactly like
  the torch ones, numeric components included).
* `LEAVES[kind]` says how each torch tensor of that layer kind maps to Flax
  leaves: the collection, the leaf name(s) and the tensor transform.

So `backbone.layer1.0.conv2.weight` matches the `CONV` row, its `weight` leaf
maps to `params/backbone/layer1/0/conv2/kernel` with OIHW -> HWIO; the inverse
direction finds the same row from the Flax path. Reference: video_knet_original.md
sections 8 and 8.6.
"""
import dataclasses
import enum
import re
from typing import Optional

import numpy as np

from video_knet_jax.models import swin

PARAMS = "params"
BATCH_STATS = "batch_stats"


class Transform(enum.Enum):
  """How a torch tensor becomes Flax leaves (and back)."""
  IDENTITY = "identity"      # bias, norm scale, running stats.
  CONV2D = "conv2d"          # torch OIHW <-> Flax HWIO.
  LINEAR = "linear"          # torch [out, in] <-> Flax Dense [in, out].
  QKV_WEIGHT = "qkv_weight"  # torch [3E, E] <-> 3 x Flax DenseGeneral [E, H, E/H].
  QKV_BIAS = "qkv_bias"      # torch [3E] <-> 3 x Flax [H, E/H].
  OUT_WEIGHT = "out_weight"  # torch [E, E] <-> Flax DenseGeneral [H, E/H, E].
  COUNTER = "counter"        # BN num_batches_tracked: no Flax leaf; int64 0 on export.
  REL_INDEX = "rel_index"    # Swin relative_position_index: no Flax leaf; rebuilt on export.


class Kind(enum.Enum):
  CONV = "conv"              # nn.Conv2d (any kernel size).
  LINEAR = "linear"          # nn.Linear.
  NORM = "norm"              # nn.LayerNorm / nn.GroupNorm (affine).
  BATCHNORM = "batchnorm"    # nn.BatchNorm2d / SyncBN (running stats -> batch_stats).
  MHA = "mha"                # nn.MultiheadAttention (packed in_proj).
  WINDOW_ATTN = "window_attn"  # Swin WindowAttention's own tensors (qkv/proj are LINEAR).
  EMBEDDING = "embedding"    # nn.Embedding (Flax nn.Embed).


@dataclasses.dataclass(frozen=True)
class Leaf:
  """One torch tensor of a layer: its Flax collection, leaf path(s), transform."""
  torch_name: str                 # e.g. 'weight', 'out_proj.weight'.
  collection: Optional[str]       # None: no Flax leaf (COUNTER).
  flax_names: tuple[str, ...]     # relative Flax leaf paths ('/'-separated).
  transform: Transform


LEAVES: dict[Kind, tuple[Leaf, ...]] = {
    Kind.CONV: (
        Leaf("weight", PARAMS, ("kernel",), Transform.CONV2D),
        Leaf("bias", PARAMS, ("bias",), Transform.IDENTITY),
    ),
    Kind.LINEAR: (
        Leaf("weight", PARAMS, ("kernel",), Transform.LINEAR),
        Leaf("bias", PARAMS, ("bias",), Transform.IDENTITY),
    ),
    Kind.NORM: (
        Leaf("weight", PARAMS, ("scale",), Transform.IDENTITY),
        Leaf("bias", PARAMS, ("bias",), Transform.IDENTITY),
    ),
    Kind.BATCHNORM: (
        Leaf("weight", PARAMS, ("scale",), Transform.IDENTITY),
        Leaf("bias", PARAMS, ("bias",), Transform.IDENTITY),
        Leaf("running_mean", BATCH_STATS, ("mean",), Transform.IDENTITY),
        Leaf("running_var", BATCH_STATS, ("var",), Transform.IDENTITY),
        Leaf("num_batches_tracked", None, (), Transform.COUNTER),
    ),
    Kind.MHA: (
        Leaf("in_proj_weight", PARAMS, ("query/kernel", "key/kernel", "value/kernel"),
             Transform.QKV_WEIGHT),
        Leaf("in_proj_bias", PARAMS, ("query/bias", "key/bias", "value/bias"),
             Transform.QKV_BIAS),
        Leaf("out_proj.weight", PARAMS, ("out/kernel",), Transform.OUT_WEIGHT),
        Leaf("out_proj.bias", PARAMS, ("out/bias",), Transform.IDENTITY),
    ),
    Kind.WINDOW_ATTN: (
        Leaf("relative_position_bias_table", PARAMS, ("relative_position_bias_table",),
             Transform.IDENTITY),
        Leaf("relative_position_index", None, (), Transform.REL_INDEX),
    ),
    Kind.EMBEDDING: (
        Leaf("weight", PARAMS, ("embedding",), Transform.IDENTITY),
    ),
}

# One iterative-head stage (per-frame, or KNetTrack's clip-level `tracker`),
# and the layer names a KernelUpdator contains.
_STAGE = r"(?:roi_head|tracker)\.mask_head\.\d+\."
_UPDATOR = r"(?:kernel_update_conv|attention_previous_update_\w+)"
# Sequential(Linear, LayerNorm, ReLU) * n: Linear at 3k, LayerNorm at 3k + 1.
_FC_LINEAR = r"(?:0|3|6|9)"
_FC_NORM = r"(?:1|4|7|10)"

# (regex over the full dotted torch module path, kind). First match wins.
MODULE_TABLE: tuple[tuple[str, Kind], ...] = (
    # ---- backbone: mmdet / torchvision ResNet (section 8.1).
    (r"backbone\.conv1", Kind.CONV),
    (r"backbone\.bn1", Kind.BATCHNORM),
    (r"backbone\.layer\d+\.\d+\.conv[123]", Kind.CONV),
    (r"backbone\.layer\d+\.\d+\.bn[123]", Kind.BATCHNORM),
    (r"backbone\.layer\d+\.\d+\.downsample\.0", Kind.CONV),
    (r"backbone\.layer\d+\.\d+\.downsample\.1", Kind.BATCHNORM),
    # ---- backbone: SwinTransformerDIY (extensions section 1.3).
    (r"backbone\.patch_embed\.proj", Kind.CONV),
    (r"backbone\.(?:patch_embed\.norm|norm\d|layers\.\d+\.blocks\.\d+\.norm[12]|"
     r"layers\.\d+\.downsample\.norm)", Kind.NORM),
    (r"backbone\.layers\.\d+\.blocks\.\d+\.attn", Kind.WINDOW_ATTN),
    (r"backbone\.(?:layers\.\d+\.blocks\.\d+\.(?:attn\.(?:qkv|proj)|mlp\.fc[12])|"
     r"layers\.\d+\.downsample\.reduction)", Kind.LINEAR),
    # ---- neck: mmdet FPN (8.2).
    (r"neck\.(?:lateral_convs|fpn_convs)\.\d+\.conv", Kind.CONV),
    # ---- neck: MSDeformAttnPixelDecoder (models/msdeform_pixel_decoder.py).
    (r"neck\.(?:(?:input_convs|output_convs)\.\d+\.conv|mask_feature)", Kind.CONV),
    (r"neck\.(?:(?:input_convs|lateral_convs|output_convs)\.\d+\.gn|"
     r"encoder\.layers\.\d+\.norms\.\d+)", Kind.NORM),
    (r"neck\.level_encoding", Kind.EMBEDDING),
    (r"neck\.encoder\.layers\.\d+\.(?:attentions\.\d+\.(?:sampling_offsets|attention_weights|"
     r"value_proj|output_proj)|ffns\.\d+\.layers\.(?:\d+\.0|\d+))", Kind.LINEAR),
    # ---- rpn_head: ConvKernelHead + SemanticFPNWrapper (8.3).
    (r"rpn_head\.localization_fpn\.convs_all_levels\.\d+\.conv\d+\.conv", Kind.CONV),
    (r"rpn_head\.localization_fpn\.convs_all_levels\.\d+\.conv\d+\.gn", Kind.NORM),
    (r"rpn_head\.(?:localization_fpn\.(?:conv_pred|aux_convs\.\d+)|loc_convs\.\d+|"
     r"seg_convs\.\d+)\.conv", Kind.CONV),
    (r"rpn_head\.(?:localization_fpn\.(?:conv_pred|aux_convs\.\d+)|loc_convs\.\d+|"
     r"seg_convs\.\d+)\.gn", Kind.NORM),
    (r"rpn_head\.(?:init_kernels|conv_seg)", Kind.CONV),
    # ---- roi_head.mask_head.{s}: VideoKernelUpdateHead (8.4).
    (_STAGE + r"(?:attention|attention_previous(?:_\w+)?)\.attn", Kind.MHA),
    (_STAGE + r"(?:attention_norm|attention_previous_norm(?:_\w+)?|ffn_norm|"
     r"link_ffn_norm(?:_\w+)?)", Kind.NORM),
    (_STAGE + _UPDATOR + r"\.(?:dynamic_layer|input_layer|input_gate|update_gate|fc_layer)",
     Kind.LINEAR),
    (_STAGE + _UPDATOR + r"\.(?:norm_in|norm_out|input_norm_in|input_norm_out|fc_norm)",
     Kind.NORM),
    (_STAGE + r"feat_transform\.conv", Kind.CONV),
    (_STAGE + r"(?:ffn|link_ffn(?:_\w+)?)\.layers\.(?:\d+\.0|\d+)", Kind.LINEAR),
    (_STAGE + r"(?:cls_fcs|mask_fcs)\." + _FC_LINEAR, Kind.LINEAR),
    (_STAGE + r"(?:cls_fcs|mask_fcs)\." + _FC_NORM, Kind.NORM),
    (_STAGE + r"(?:fc_cls|fc_mask)", Kind.LINEAR),
    # ---- tracking embedding (8.5).
    (r"embed_fcs\." + _FC_LINEAR, Kind.LINEAR),
    (r"embed_fcs\." + _FC_NORM, Kind.NORM),
    (r"fc_embed", Kind.LINEAR),
    (r"track_head\.(?:fcs\.\d+|fc_embed)", Kind.LINEAR),
    # QDTrack's embed head of the RoI-Align ablation (ConvModule: conv + gn).
    (r"track_head\.convs\.\d+\.conv", Kind.CONV),
    (r"track_head\.convs\.\d+\.gn", Kind.NORM),
)

# ---- Semantic K-Net (VSPW; video_knet_extensions.md 4.2-4.3): mmseg EncoderDecoder names.
# Its own family (keys never overlap the Video K-Net ones): ResNetV1c deep stem,
# the base decode heads (ConvModule = conv + SyncBN), the auxiliary FCN head and
# `decode_head.kernel_update_head.{s}` stages (+ the fusion layers at the last).
_HEADS = r"(?:decode_head\.kernel_generate_head|auxiliary_head)\."
_SEM_STAGE = r"decode_head\.kernel_update_head\.\d+\."
_SEM_UPDATOR = r"(?:kernel_update_conv|attention_previous_update_link)"
SEMANTIC_KNET_TABLE: tuple[tuple[str, Kind], ...] = (
    (r"backbone\.stem\.(?:0|3|6)", Kind.CONV),
    (r"backbone\.stem\.(?:1|4|7)", Kind.BATCHNORM),
    (_HEADS + r"[\w.]*\.conv", Kind.CONV),       # ConvModule / separable parts.
    (_HEADS + r"[\w.]*\.bn", Kind.BATCHNORM),
    (_HEADS + r"conv_seg", Kind.CONV),
    (_SEM_STAGE + r"(?:attention|attention_previous_link)\.attn", Kind.MHA),
    (_SEM_STAGE + r"(?:attention_norm|attention_previous_norm_link|ffn_norm|"
     r"link_ffn_norm_link)", Kind.NORM),
    (_SEM_STAGE + _SEM_UPDATOR + r"\.(?:dynamic_layer|input_layer|input_gate|update_gate|"
     r"fc_layer)", Kind.LINEAR),
    (_SEM_STAGE + _SEM_UPDATOR + r"\.(?:norm_in|norm_out|input_norm_in|input_norm_out|"
     r"fc_norm)", Kind.NORM),
    (_SEM_STAGE + r"feat_transform\.conv", Kind.CONV),
    (_SEM_STAGE + r"(?:ffn|link_ffn_link)\.layers\.(?:\d+\.0|\d+)", Kind.LINEAR),
    (_SEM_STAGE + r"mask_fcs\." + _FC_LINEAR, Kind.LINEAR),
    (_SEM_STAGE + r"mask_fcs\." + _FC_NORM, Kind.NORM),
    (_SEM_STAGE + r"fc_mask", Kind.LINEAR),
)
MODULE_TABLE = MODULE_TABLE + SEMANTIC_KNET_TABLE

_COMPILED = tuple((re.compile(pattern + r"\Z"), kind) for pattern, kind in MODULE_TABLE)


@dataclasses.dataclass(frozen=True)
class Match:
  """A torch key resolved through the table."""
  torch_key: str
  module: str           # dotted torch module path, e.g. 'neck.fpn_convs.0.conv'.
  kind: Kind
  leaf: Leaf

  @property
  def flax_paths(self) -> tuple[tuple[str, str], ...]:
    """(collection, '/'-joined path) of every Flax leaf this tensor maps to."""
    base = self.module.replace(".", "/")
    return tuple((self.leaf.collection, f"{base}/{name}") for name in self.leaf.flax_names)


def module_kind(module: str) -> Optional[Kind]:
  """The kind of a dotted torch module path, or None if no row matches."""
  for regex, kind in _COMPILED:
    if regex.match(module):
      return kind
  return None


def match_torch_key(key: str) -> Optional[Match]:
  """Resolves a torch state_dict key, or None if the table does not know it."""
  # Leaf names may contain a dot ('out_proj.weight'): try every split point.
  parts = key.split(".")
  for cut in range(len(parts) - 1, 0, -1):
    module, leaf_name = ".".join(parts[:cut]), ".".join(parts[cut:])
    kind = module_kind(module)
    if kind is None:
      continue
    for leaf in LEAVES[kind]:
      if leaf.torch_name == leaf_name:
        return Match(key, module, kind, leaf)
  return None


def match_flax_path(collection: str, path: str) -> Optional[tuple[Match, int]]:
  """Resolves a Flax leaf ('/'-joined path) to its torch tensor and slot index.

  The slot index says which of the leaf's Flax names this is (0..2 for the
  packed q/k/v projections, 0 otherwise).
  """
  for kind, leaves in LEAVES.items():
    for leaf in leaves:
      if leaf.collection != collection:
        continue
      for slot, name in enumerate(leaf.flax_names):
        suffix = "/" + name
        if not path.endswith(suffix):
          continue
        module = path[:-len(suffix)].replace("/", ".")
        if module_kind(module) is kind:
          return Match(f"{module}.{leaf.torch_name}", module, kind, leaf), slot
  return None


# ------------------------------------------------------------------ transforms


def to_flax(match: Match, tensor: np.ndarray,
            flax_shapes: tuple[tuple[int, ...], ...]) -> tuple[np.ndarray, ...]:
  """Torch tensor -> Flax leaves (one per `match.leaf.flax_names`).

  `flax_shapes` are the target shapes (from the model template); the attention
  transforms read the head count from them.
  """
  t = match.leaf.transform
  if t is Transform.IDENTITY:
    return (tensor,)
  if t is Transform.CONV2D:
    _expect_ndim(match, tensor, 4)
    return (np.transpose(tensor, (2, 3, 1, 0)),)
  if t is Transform.LINEAR:
    _expect_ndim(match, tensor, 2)
    return (np.transpose(tensor),)
  if t is Transform.QKV_WEIGHT:
    _expect_ndim(match, tensor, 2)
    return tuple(np.transpose(w).reshape(s)
                 for w, s in zip(np.split(tensor, 3, axis=0), flax_shapes))
  if t is Transform.QKV_BIAS:
    _expect_ndim(match, tensor, 1)
    return tuple(b.reshape(s) for b, s in zip(np.split(tensor, 3), flax_shapes))
  if t is Transform.OUT_WEIGHT:
    _expect_ndim(match, tensor, 2)
    return (np.transpose(tensor).reshape(flax_shapes[0]),)
  if t in (Transform.COUNTER, Transform.REL_INDEX):
    return ()
  raise ValueError(f"Unhandled transform {t} for {match.torch_key}.")


def to_torch(match: Match, leaves: tuple[np.ndarray, ...]) -> np.ndarray:
  """Flax leaves (ordered like `match.leaf.flax_names`) -> the torch tensor."""
  t = match.leaf.transform
  if t is Transform.IDENTITY:
    return leaves[0]
  if t is Transform.CONV2D:
    return np.transpose(leaves[0], (3, 2, 0, 1))
  if t is Transform.LINEAR:
    return np.transpose(leaves[0])
  if t is Transform.QKV_WEIGHT:   # each [E, H, D] -> [E, E] (in, out) -> [out, in].
    return np.concatenate([np.transpose(w.reshape(w.shape[0], -1)) for w in leaves], axis=0)
  if t is Transform.QKV_BIAS:     # each [H, D] -> [E].
    return np.concatenate([b.reshape(-1) for b in leaves], axis=0)
  if t is Transform.OUT_WEIGHT:   # [H, D, E] -> [E_in, E_out] -> [out, in].
    w = leaves[0]
    return np.transpose(w.reshape(-1, w.shape[-1]))
  if t is Transform.COUNTER:
    return np.zeros((), np.int64)
  if t is Transform.REL_INDEX:
    raise ValueError(f"{match.torch_key} is rebuilt from its bias table (`relative_index`).")
  raise ValueError(f"Unhandled transform {t} for {match.torch_key}.")


def _expect_ndim(match: Match, tensor: np.ndarray, ndim: int) -> None:
  if tensor.ndim != ndim:
    raise ValueError(f"{match.torch_key}: expected a {ndim}-D tensor for a {match.kind.value} "
                     f"layer, got shape {tuple(tensor.shape)}.")


def relative_index(bias_table: np.ndarray) -> np.ndarray:
  """The Swin `relative_position_index` buffer [w*w, w*w] (int64) of a (2w-1)^2-row table."""
  window = swin.window_size_of_table(bias_table.shape[0])
  return swin.relative_position_index(window)
