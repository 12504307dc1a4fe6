"""Containers that reproduce the path layout of torch `nn.Sequential`/`ModuleList`.

The PyTorch converter maps `a.0.1.weight` to `a/0/1/kernel`, so list-like torch
containers must become a Flax scope whose children are named '0', '1', ...
Layers are given as *factories* (a Module class or `functools.partial` of one)
so the container can create them under its own scope with those names;
parameter-free callables (e.g. `nn.relu`) just occupy an index, as in torch.
"""
import functools
from typing import Any, Callable, Optional, Sequence

import flax.linen as nn


def _is_module_factory(layer: Any) -> bool:
  func = layer.func if isinstance(layer, functools.partial) else layer
  return isinstance(func, type) and issubclass(func, nn.Module)


class Sequential(nn.Module):
  """torch `nn.Sequential`: children '0', '1', ... applied in order.

  Attributes:
    layers: module factories or parameter-free callables, in torch order.
  """
  layers: Sequence[Callable[..., Any]]

  @nn.compact
  def __call__(self, x):
    for i, layer in enumerate(self.layers):
      if _is_module_factory(layer):
        x = layer(name=str(i))(x)
      else:
        x = layer(x)
    return x


class ModuleList(nn.Module):
  """torch `nn.ModuleList` iterated in a forward pass: children '0', '1', ...

  Attributes:
    layers: module factories, one per index.
    activation: applied after every layer (torch applies it outside the list).
    parallel: if True, the input is a sequence and layer i maps element i
      (FPN lateral/output convs); otherwise the layers are chained.
  """
  layers: Sequence[Callable[..., nn.Module]]
  activation: Optional[Callable[[Any], Any]] = None
  parallel: bool = False

  @nn.compact
  def __call__(self, x):
    if self.parallel and len(x) != len(self.layers):
      raise ValueError(
          f"ModuleList {self.name}: got {len(x)} inputs for {len(self.layers)} layers.")
    outs = []
    for i, layer in enumerate(self.layers):
      y = layer(name=str(i))(x[i] if self.parallel else x)
      if self.activation is not None:
        y = self.activation(y)
      if self.parallel:
        outs.append(y)
      else:
        x = y
    return outs if self.parallel else x


class Indexed(nn.Module):
  """torch `nn.ModuleList` whose layers are called one at a time, with any inputs.

  `Indexed(layers)(i, *args)` runs layer i (child str(i)); e.g. mmcv's
  `norms.0` / `norms.1`, applied at different points of a transformer layer.

  Attributes:
    layers: module factories, one per index.
  """
  layers: Sequence[Callable[..., nn.Module]]

  @nn.compact
  def __call__(self, index: int, *args, **kwargs):
    return self.layers[index](name=str(index))(*args, **kwargs)
