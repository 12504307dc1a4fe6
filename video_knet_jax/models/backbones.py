"""Backbone choice: `config.model.backbone.name` -> the module and its frozen-parameter rule."""
from typing import Any, Callable, Tuple

import flax.linen as nn
import jax.numpy as jnp

from video_knet_jax.models import resnet
from video_knet_jax.models import swin

_BUILDERS = {"resnet": resnet.build_resnet, "swin": swin.build_swin}
_FROZEN_FILTERS = {"resnet": resnet.frozen_param_filter, "swin": swin.frozen_param_filter}


def _name(backbone_config) -> str:
  name = backbone_config.name
  if name not in _BUILDERS:
    raise ValueError(f"config.model.backbone.name={name!r}; expected one of {sorted(_BUILDERS)}.")
  return name


def build_backbone(backbone_config, dtype: Any = jnp.float32) -> nn.Module:
  """The backbone of `config.model.backbone`: images [B, H, W, 3] -> (C2, C3, C4, C5)."""
  return _BUILDERS[_name(backbone_config)](backbone_config, dtype)


def frozen_param_filter(config) -> Callable[[Tuple[str, ...]], bool]:
  """`is_frozen(path)` of the configured backbone's `frozen_stages`."""
  model_config = config.model if "model" in config else config
  return _FROZEN_FILTERS[_name(model_config.backbone)](config)
