"""Reading and writing PyTorch checkpoint files without trusting pickles.

`.pth/.pt/.bin` files are read with `torch.load(weights_only=True)`: only
tensors and plain containers are accepted; anything needing arbitrary
unpickling is refused. `.safetensors` files need no torch at all. torch is
imported lazily, so training and evaluation never need it.
"""
import collections
import os
import pickle
import time
import zipfile
from typing import Any, Mapping, Optional

import numpy as np

_SAFETENSORS = (".safetensors",)
# Wrappers seen in the wild: mmcv {'state_dict', 'meta', 'optimizer'}; official
# Swin / DeiT {'model'}; some trainers {'module'}.
_WRAPPER_KEYS = ("state_dict", "model", "module")


def _import_torch():
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError("PyTorch is needed to read/write .pth files "
                      "(pip install -r requirements-test.txt), or use .safetensors.") from e
  return torch


def load_state_dict(path: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
  """Reads a checkpoint file into (name -> float32/int numpy array, meta).

  Unwraps mmcv-style `{'state_dict': ..., 'meta': ...}` and `{'model': ...}`
  files and a leading 'module.' (DistributedDataParallel) on every key.

  Raises:
    FileNotFoundError, or ValueError when the file needs arbitrary unpickling
    or holds no tensors.
  """
  if not os.path.exists(path):
    raise FileNotFoundError(f"No such checkpoint file: {path!r}")
  meta: dict[str, Any] = {}
  if path.endswith(_SAFETENSORS):
    from safetensors import safe_open  # pylint: disable=g-import-not-at-top
    try:
      with safe_open(path, framework="numpy") as f:
        meta = dict(f.metadata() or {})
        raw = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # pylint: disable=broad-except  (SafetensorError, OSError)
      first = (str(e).splitlines() or [""])[0][:200]
      raise ValueError(f"{path}: not a readable .safetensors file, it is truncated or "
                       f"corrupt ({type(e).__name__}: {first}).") from e
    return _strip_module(raw), meta

  _check_torch_container(path)
  torch = _import_torch()
  try:
    obj = torch.load(path, map_location="cpu", weights_only=True)
  except pickle.UnpicklingError as e:
    raise ValueError(
        f"{path}: refused to load, the file needs arbitrary Python objects to be unpickled "
        f"(torch.load(weights_only=True) failed: {str(e).splitlines()[0]}). Re-save just the "
        "tensors (torch.save(model.state_dict(), ...)) or convert it to .safetensors.") from e
  except (RuntimeError, EOFError, KeyError, ValueError, IndexError) as e:
    first = (str(e).splitlines() or [""])[0][:200]
    raise ValueError(f"{path}: not a readable PyTorch checkpoint, it is truncated or "
                     f"corrupt (torch.load: {type(e).__name__} {first}).") from e
  if isinstance(obj, Mapping):
    for wrapper in _WRAPPER_KEYS:
      if isinstance(obj.get(wrapper), Mapping):
        meta = dict(obj.get("meta") or {}) if isinstance(obj.get("meta"), Mapping) else {}
        obj = obj[wrapper]
        break
  if not isinstance(obj, Mapping) or not obj:
    raise ValueError(f"{path}: expected a state_dict (a mapping of names to tensors), "
                     f"got {type(obj).__name__}.")
  state = {}
  for k, v in obj.items():
    if not isinstance(v, torch.Tensor):
      raise ValueError(f"{path}: entry {k!r} is a {type(v).__name__}, not a tensor.")
    v = v.detach().cpu()
    if v.is_floating_point() and v.dtype != torch.float64:
      v = v.float()   # bf16/fp16 have no exact numpy twin; float32 holds them exactly.
    state[k] = v.numpy()
  return _strip_module(state), meta


def _check_torch_container(path: str) -> None:
  """Names what a file is when it cannot be a torch.save() file at all.

  torch.save writes a zip archive (PyTorch >= 1.6) or, in the legacy format,
  a pickle (protocol 2+ starts with 0x80).
  """
  size = os.path.getsize(path)
  if size == 0:
    raise ValueError(f"{path}: the file is empty, not a PyTorch checkpoint.")
  with open(path, "rb") as f:
    head = f.read(64)
  if head.startswith(b"PK\x03\x04"):
    if not zipfile.is_zipfile(path):
      raise ValueError(f"{path}: truncated PyTorch checkpoint (a zip archive without "
                       f"its end, {size} bytes); copy or download it again.")
    return
  if not head.startswith(b"\x80"):
    raise ValueError(f"{path}: not a PyTorch checkpoint (neither the zip archive nor "
                     f"the pickle that torch.save writes; it starts with {head[:24]!r}).")


def _strip_module(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  if state and all(k.startswith("module.") for k in state):
    return {k[len("module."):]: v for k, v in state.items()}
  return state


def save_state_dict(path: str, state_dict: Mapping[str, np.ndarray],
                    meta: Optional[Mapping[str, Any]] = None, wrapper: str = "state_dict") -> None:
  """Writes an mmcv-style `{'state_dict', 'meta'}` .pth, or a .safetensors file.

  `wrapper='model'` writes `{'model', 'meta'}` (official Swin checkpoints).

  Key order is kept in .pth files (safetensors sorts keys). `meta` should hold
  only plain Python values (str, int, float, lists/dicts of them) so
  `weights_only=True` readers accept it; safetensors stores it as strings.
  """
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  meta = dict(meta or {})
  meta.setdefault("time", time.asctime())
  if wrapper not in _WRAPPER_KEYS:
    raise ValueError(f"save_state_dict: wrapper {wrapper!r} not one of {_WRAPPER_KEYS}.")
  # Written under a temporary name and renamed: never a torn file at `path`.
  partial = f"{path}.partial-{os.getpid()}"
  try:
    if path.endswith(_SAFETENSORS):
      from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
      save_file({k: np.asarray(v, order="C") for k, v in state_dict.items()}, partial,
                metadata={k: str(v) for k, v in meta.items()})
    else:
      torch = _import_torch()
      tensors = collections.OrderedDict(
          (k, torch.from_numpy(np.array(v, copy=True))) for k, v in state_dict.items())
      torch.save({wrapper: tensors, "meta": meta}, partial)
    os.replace(partial, path)
  except BaseException:
    if os.path.exists(partial):
      os.remove(partial)
    raise
