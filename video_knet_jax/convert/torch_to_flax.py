"""A PyTorch state_dict (numpy arrays) -> Flax variables, with strict accounting.

Every source tensor ends in exactly one report bucket: loaded, dropped (with a
reason), unexpected, or shape-mismatched; every model leaf is either loaded or
left at its initial value (and its torch key listed as missing).
"""
import dataclasses
from typing import Any, Mapping

from flax import traverse_util
import numpy as np

from video_knet_jax.convert import key_table
from video_knet_jax.convert import reference_keys
from video_knet_jax.convert import sources

_STAGE_LINK = reference_keys.STAGE_LINK_KEY


@dataclasses.dataclass
class ImportReport:
  """What happened to every tensor of an import."""
  source: str
  loaded: list[str] = dataclasses.field(default_factory=list)       # torch keys.
  dropped: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (key, reason).
  unexpected: list[str] = dataclasses.field(default_factory=list)   # source keys w/o a home.
  shape_mismatch: list[tuple[str, tuple, tuple]] = dataclasses.field(default_factory=list)
  missing: list[str] = dataclasses.field(default_factory=list)      # model keys not in source.
  expected_missing: list[str] = dataclasses.field(default_factory=list)  # missing by source kind.
  left_at_init: list[str] = dataclasses.field(default_factory=list)  # 'collection/flax/path'.

  def problems(self, strict: bool) -> list[str]:
    """Why a strict (or lenient) import must fail; empty when it may proceed."""
    out = []
    if strict and self.shape_mismatch:
      out.append(f"{len(self.shape_mismatch)} shape mismatches, e.g. {self.shape_mismatch[:3]}")
    if strict and self.unexpected:
      out.append(f"{len(self.unexpected)} unexpected keys, e.g. {self.unexpected[:5]}")
    if strict and self.missing:
      out.append(f"{len(self.missing)} missing keys, e.g. {self.missing[:5]}")
    return out

  def summary(self) -> str:
    lines = [f"source kind: {self.source}",
             f"loaded: {len(self.loaded)} tensors",
             f"dropped: {len(self.dropped)}" + _reasons(self.dropped),
             f"unexpected: {len(self.unexpected)}" + _list(self.unexpected),
             f"shape mismatches: {len(self.shape_mismatch)}" + _list(
                 [f"{k} {s} vs model {m}" for k, s, m in self.shape_mismatch]),
             f"missing: {len(self.missing)}" + _list(self.missing),
             f"missing as expected for this source: {len(self.expected_missing)}",
             f"left at init: {len(self.left_at_init)} Flax leaves"]
    return "\n".join(lines)


def _list(items, limit=20) -> str:
  if not items:
    return ""
  more = f"\n    ... {len(items) - limit} more" if len(items) > limit else ""
  return "".join(f"\n    {x}" for x in items[:limit]) + more


def _reasons(dropped) -> str:
  counts: dict[str, int] = {}
  for _, reason in dropped:
    counts[reason] = counts.get(reason, 0) + 1
  return "".join(f"\n    {n} x {r}" for r, n in counts.items())


class ConversionError(ValueError):
  """An import found missing/unexpected/mismatched tensors it may not accept."""


def torch_to_flax(state_dict: Mapping[str, np.ndarray], template: Mapping[str, Any], *,
                  source: str = sources.AUTO, strict: bool = True, path: str = ""
                  ) -> tuple[dict[str, Any], ImportReport]:
  """Maps a torch-named state_dict onto a Flax variables template.

  Args:
    state_dict: tensor name -> numpy array (already unwrapped from 'state_dict').
    template: the model's `{'params', 'batch_stats'}` variables (initial values)
      or their `jax.ShapeDtypeStruct`s; supplies target shapes and the values
      of leaves the source lacks.
    source: one of `sources.SOURCES` or 'auto' (detect from the keys).
    strict: fail on unexpected keys, shape mismatches and missing keys beyond
      those the source kind never has (e.g. an image K-Net has no tracking
      layers). Otherwise all of these are only reported; mismatched leaves
      stay at init (e.g. class-specific layers of a COCO-pretrained K-Net).
    path: the file name, for messages.

  Returns:
    (variables with the same structure as `template` holding numpy arrays for
    loaded leaves and the template's values elsewhere, report). With an
    abstract template, `fill_left_at_init` supplies real initial values later
    (so a complete import never pays for a model initialisation).

  Raises:
    ConversionError: listing every problem when the import may not proceed.
  """
  kind = sources.detect(state_dict, path) if source == sources.AUTO else source
  src = sources.get(kind, path)
  report = ImportReport(source=kind)

  flat_template = {}
  for collection, tree in template.items():
    for p, v in traverse_util.flatten_dict(dict(tree), sep="/").items():
      flat_template[(collection, p)] = v
  model_link_stages = {int(m.group(1)) for (_, p) in flat_template
                       if (m := _STAGE_LINK.match(p.replace("/", ".")))}

  loaded: dict[tuple[str, str], np.ndarray] = {}
  for src_key, tensor in state_dict.items():
    key, reason = src.rename(src_key)
    if key is None:
      report.dropped.append((src_key, reason))
      continue
    match = key_table.match_torch_key(key)
    if match is None:
      report.unexpected.append(src_key)
      continue
    if match.leaf.transform is key_table.Transform.COUNTER:
      report.dropped.append((src_key, "BatchNorm counter (not a Flax variable)"))
      continue
    if match.leaf.transform is key_table.Transform.REL_INDEX:
      table = state_dict.get(src_key.replace("relative_position_index",
                                             "relative_position_bias_table"))
      if table is not None and not np.array_equal(np.asarray(tensor),
                                                  key_table.relative_index(np.asarray(table))):
        report.shape_mismatch.append((src_key, tuple(np.shape(tensor)), "another window size"))
      else:
        report.dropped.append((src_key, "Swin relative_position_index (a constant of the model)"))
      continue
    targets = match.flax_paths
    if any(t not in flat_template for t in targets):
      m = _STAGE_LINK.match(key)
      if m and model_link_stages and int(m.group(1)) not in model_link_stages:
        report.dropped.append((src_key, "linking layer of a non-last stage (unused by the "
                               "original; model built with link_all_stages=False)"))
      else:
        report.unexpected.append(src_key)
      continue
    shapes = tuple(tuple(np.shape(flat_template[t])) for t in targets)
    try:
      values = key_table.to_flax(match, np.asarray(tensor), shapes)
    except ValueError:
      values = None
    if values is None or any(tuple(v.shape) != s for v, s in zip(values, shapes)):
      report.shape_mismatch.append((src_key, tuple(np.shape(tensor)),
                                    _torch_shape(match, shapes)))
      continue
    for t, v in zip(targets, values):
      loaded[t] = np.asarray(v, dtype=flat_template[t].dtype, order="C")
    report.loaded.append(src_key)

  missing_keys = {}
  for target in flat_template:
    if target not in loaded:
      report.left_at_init.append("/".join(target))
      resolved = key_table.match_flax_path(*target)
      missing_keys[resolved[0].torch_key if resolved else "/".join(target)] = None
  for key in missing_keys:
    if src.expected_missing is not None and src.expected_missing.search(key):
      report.expected_missing.append(key)
    else:
      report.missing.append(key)

  problems = report.problems(strict)
  if problems:
    raise ConversionError(f"Import of {path or 'state_dict'} ({kind}) failed"
                       f"{' (strict)' if strict else ''}:\n  " + "\n  ".join(problems) +
                       "\n" + report.summary())

  out: dict[str, Any] = {}
  for (collection, p), value in flat_template.items():
    out.setdefault(collection, {})[p] = loaded.get((collection, p), value)
  return {c: traverse_util.unflatten_dict(f, sep="/") for c, f in out.items()}, report


def _torch_shape(match: key_table.Match, flax_shapes) -> tuple:
  """The torch shape the model expects for `match` (for messages)."""
  zeros = tuple(np.zeros(s, np.float32) for s in flax_shapes)
  if match.leaf.transform in (key_table.Transform.COUNTER, key_table.Transform.REL_INDEX):
    return ()
  return tuple(key_table.to_torch(match, zeros).shape)


def fill_left_at_init(variables: Mapping[str, Any], initial: Mapping[str, Any]) -> dict:
  """Replaces the `jax.ShapeDtypeStruct` leaves of `variables` with `initial`'s values."""
  flat_init = {c: traverse_util.flatten_dict(dict(t), sep="/") for c, t in initial.items()}
  out = {}
  for collection, tree in variables.items():
    flat = traverse_util.flatten_dict(dict(tree), sep="/")
    out[collection] = traverse_util.unflatten_dict(
        {p: (np.asarray(flat_init[collection][p]) if _is_abstract(v) else v)
         for p, v in flat.items()}, sep="/")
  return out


def _is_abstract(x) -> bool:
  return not hasattr(x, "__array__")
