"""Flax variables -> an original-layout PyTorch state_dict (numpy arrays).

Driven by `key_table`; torch itself is not needed here (see `torch_files`).
"""
import collections
import re
from typing import Any, Mapping

from flax import traverse_util
import numpy as np

from video_knet_jax.convert import key_table
from video_knet_jax.convert import reference_keys

_STAGE_LINK = reference_keys.STAGE_LINK_KEY


def flax_to_torch(variables: Mapping[str, Any], *, fill_dead_links: bool = True,
                  log=None) -> "collections.OrderedDict[str, np.ndarray]":
  """Converts Flax `{'params': ..., 'batch_stats': ...}` to a torch-named state_dict.

  Args:
    variables: the model variables (arrays or numpy; other collections are ignored).
    fill_dead_links: the original builds the tracking-link layers in every stage
      but only the last one uses them (reference 10.1.2). A model built with
      `link_all_stages=False` has them in the last stage only; this copies them
      into the other stages so the original loads the file with strict keys. The
      copies never influence the original's outputs.
    log: optional callable(str) for notes (e.g. the filled keys).

  Returns:
    An OrderedDict in the original registration order: float32 tensors, int64
    `num_batches_tracked` (= 0) for every BatchNorm and the int64 Swin
    `relative_position_index` buffer of every window attention.

  Raises:
    ValueError: a Flax leaf that the key table cannot name (naming-contract drift).
  """
  grouped: dict[str, tuple[key_table.Match, dict[int, np.ndarray]]] = {}
  unknown = []
  for collection in (key_table.PARAMS, key_table.BATCH_STATS):
    flat = traverse_util.flatten_dict(dict(variables.get(collection, {})), sep="/")
    for path, value in flat.items():
      resolved = key_table.match_flax_path(collection, path)
      if resolved is None:
        unknown.append(f"{collection}/{path}")
        continue
      match, slot = resolved
      grouped.setdefault(match.torch_key, (match, {}))[1][slot] = np.asarray(value)
  if unknown:
    raise ValueError(
        f"{len(unknown)} Flax variables have no PyTorch name in key_table.MODULE_TABLE "
        f"(naming contract): {unknown[:10]}{' ...' if len(unknown) > 10 else ''}")

  state: dict[str, np.ndarray] = {}
  bn_modules = []
  for torch_key, (match, slots) in grouped.items():
    if len(slots) != len(match.leaf.flax_names):
      missing = [n for i, n in enumerate(match.leaf.flax_names) if i not in slots]
      raise ValueError(f"{torch_key}: Flax leaves {missing} under {match.module} are missing.")
    leaves = tuple(slots[i] for i in range(len(slots)))
    state[torch_key] = _as_float32(key_table.to_torch(match, leaves))
    if match.kind is key_table.Kind.BATCHNORM and match.module not in bn_modules:
      bn_modules.append(match.module)
  for torch_key, (match, slots) in grouped.items():  # Swin index buffers, from the tables.
    if match.kind is key_table.Kind.WINDOW_ATTN:
      state[f"{match.module}.relative_position_index"] = key_table.relative_index(slots[0])
  for module in bn_modules:
    counter = [l for l in key_table.LEAVES[key_table.Kind.BATCHNORM]
               if l.transform is key_table.Transform.COUNTER][0]
    state[f"{module}.{counter.torch_name}"] = np.zeros((), np.int64)

  if fill_dead_links:
    filled = _fill_dead_links(state)
    if filled and log:
      log(f"Filled {len(filled)} unused linking tensors of earlier stages from the last stage "
          f"(original layout; the original never reads them).")
  return collections.OrderedDict(
      (k, state[k]) for k in reference_keys.sort_keys(state))


def _fill_dead_links(state: dict[str, np.ndarray]) -> list[str]:
  """Copies the linking stage's linking tensors into stages that lack them
  (the last stage's; config.model.temporal.link_stage may move them)."""
  stages = sorted({int(m.group(1)) for k in state
                   if (m := re.match(r"^roi_head\.mask_head\.(\d+)\.", k))})
  link_by_stage: dict[int, dict[str, np.ndarray]] = collections.defaultdict(dict)
  for k, v in state.items():
    if m := _STAGE_LINK.match(k):
      link_by_stage[int(m.group(1))][m.group(2)] = v
  if not stages or len(link_by_stage) != 1:
    return []                     # none, or already in every stage.
  (source,) = link_by_stage
  filled = []
  for s in stages:
    if s == source:
      continue
    for rest, value in link_by_stage[source].items():
      key = f"roi_head.mask_head.{s}.{rest}"
      state[key] = value.copy()
      filled.append(key)
  return filled


def _as_float32(x: np.ndarray) -> np.ndarray:
  x = np.asarray(x)
  if np.issubdtype(x.dtype, np.floating) or x.dtype.name == "bfloat16":
    return np.asarray(x, dtype=np.float32, order="C")
  return np.asarray(x, order="C")


def to_swin_imagenet(state: Mapping[str, np.ndarray]) -> "collections.OrderedDict[str, np.ndarray]":
  """The Swin backbone of an exported state_dict in the official classification layout.

  Keeps `backbone.*` minus the detector's norm0..norm3 and strips the prefix,
  so `{'model': result}` loads into the official `SwinTransformer` (or the
  original `SwinTransformerDIY`) non-strictly: it has no classifier `head`,
  final `norm` or `attn_mask` buffers, which the backbone never had.
  """
  if not any(k.startswith("backbone.patch_embed.") for k in state):
    raise ValueError("to_swin_imagenet: the state_dict has no Swin backbone "
                     "('backbone.patch_embed.*').")
  return collections.OrderedDict(
      (k[len("backbone."):], v) for k, v in state.items()
      if k.startswith("backbone.") and not re.match(r"backbone\.norm\d\.", k))
