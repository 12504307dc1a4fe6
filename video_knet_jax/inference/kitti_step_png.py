"""KITTI-STEP panoptic PNG (the submission and ground-truth format).

An 8-bit RGB PNG per frame: R = semantic trainId (255 = void),
G = id // 256, B = id % 256 (id 0 = no instance). The original writes the same
layout (reference section 5.1, `final/{seq:04d}/{frame:06d}.png`).
"""
import os

import numpy as np
from PIL import Image


def encode_kitti_step(semantic: np.ndarray, ids: np.ndarray) -> np.ndarray:
  """[H, W] trainIds and [H, W] ids -> [H, W, 3] uint8 RGB."""
  semantic = np.asarray(semantic)
  ids = np.asarray(ids)
  if semantic.shape != ids.shape or semantic.ndim != 2:
    raise ValueError(f"KITTI-STEP PNG: semantic {semantic.shape} and ids {ids.shape} "
                     "must be equal 2-D shapes.")
  if semantic.min(initial=0) < 0 or semantic.max(initial=0) > 255:
    raise ValueError("KITTI-STEP PNG: semantic values must be in [0, 255].")
  if ids.min(initial=0) < 0 or ids.max(initial=0) > 65535:
    raise ValueError("KITTI-STEP PNG: ids must be in [0, 65535] (G*256 + B).")
  ids = ids.astype(np.int64)
  return np.stack([semantic, ids // 256, ids % 256], axis=-1).astype(np.uint8)


def decode_kitti_step(rgb: np.ndarray):
  """[H, W, 3] uint8 -> (semantic [H, W] int32, ids [H, W] int32)."""
  rgb = np.asarray(rgb).astype(np.int32)
  return rgb[..., 0], rgb[..., 1] * 256 + rgb[..., 2]


def submission_path(out_dir: str, sequence_id: int, frame_index: int) -> str:
  """`{out_dir}/{seq:04d}/{frame:06d}.png`, the layout of the original's `final/`."""
  return os.path.join(out_dir, f"{int(sequence_id):04d}", f"{int(frame_index):06d}.png")


def write_kitti_step_png(path: str, semantic: np.ndarray, ids: np.ndarray) -> None:
  """Writes one frame's prediction; creates the parent directory."""
  directory = os.path.dirname(path)
  if directory:
    os.makedirs(directory, exist_ok=True)
  Image.fromarray(encode_kitti_step(semantic, ids)).save(path)


def read_kitti_step_png(path: str):
  """Reads a KITTI-STEP PNG -> (semantic [H, W] int32, ids [H, W] int32)."""
  with Image.open(path) as image:
    return decode_kitti_step(np.asarray(image.convert("RGB")))
