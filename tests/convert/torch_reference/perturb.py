"""Random weights that make parity tests sensitive to every tensor's role."""
from typing import Mapping

import torch


def perturb(model: torch.nn.Module, seed: int,
            scaled: Mapping[str, float] | None = None) -> None:
  """Randomises `model`'s norm statistics, norm scales and biases in place.

  At init they are 0 / 1, so a swapped scale and bias or mean and variance
  would go unseen. Other float weights whose key ends with a suffix of
  `scaled` become scale * N(0, 1) (e.g. tables torch initialises to zeros).
  """
  gen = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for key, value in model.state_dict().items():
      if value.dtype != torch.float32:
        continue
      if key.endswith("running_var"):
        value.copy_(0.5 + torch.rand(value.shape, generator=gen))
      elif key.endswith(("running_mean", "bias")):
        value.copy_(0.1 * torch.randn(value.shape, generator=gen))
      elif value.ndim == 1:   # norm scales.
        value.copy_(1.0 + 0.1 * torch.randn(value.shape, generator=gen))
      else:
        for suffix, scale in (scaled or {}).items():
          if key.endswith(suffix):
            value.copy_(scale * torch.randn(value.shape, generator=gen))
            break
