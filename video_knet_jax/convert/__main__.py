r"""PyTorch <-> Flax checkpoint conversion for Video K-Net.

  # Flax (variables dir, training workdir or 'random') -> original state_dict:
  python -m video_knet_jax.convert export --config=configs/kitti_step.py \
      --checkpoint=DIR --output=model.pth            # or model.safetensors
  # Original Video K-Net / image K-Net / torchvision ResNet / official Swin -> Orbax variables:
  python -m video_knet_jax.convert import --config=configs/kitti_step.py \
      --torch=knet_r50_city.pth --output=DIR [--source=auto] [--nostrict]

The import writes `{'params', 'batch_stats'}` with `checkpointing.save_variables`;
point `config.init_from.checkpoint` (train.py) or `--checkpoint` (evaluate.py)
at it. Strictness depends on the source: an image K-Net may lack the tracking
layers and a torchvision ResNet everything but the backbone; anything else
missing, any unexpected tensor and any shape mismatch is an error unless
`--nostrict` (then they are reported and the model's leaves stay at init).
"""
import dataclasses
import json
import os

from absl import app
from absl import flags
from ml_collections import config_flags

from video_knet_jax.cli import entry_point
from video_knet_jax.convert import conversion
from video_knet_jax.convert import sources
from video_knet_jax.convert import torch_to_flax

_CONFIG = config_flags.DEFINE_config_file("config", None, "Model config file.",
                                          lock_config=True)
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "export: variables dir, training workdir, or 'random'.")
_STEP = flags.DEFINE_integer("step", None, "export: training step (default: latest).")
_TORCH = flags.DEFINE_string("torch", None, "import: .pth/.pt/.bin/.safetensors file.")
_SOURCE = flags.DEFINE_enum("source", sources.AUTO, [sources.AUTO, *sources.SOURCES],
                            "import: checkpoint kind (auto = detect from the keys).")
_STRICT = flags.DEFINE_bool("strict", True,
                            "import: fail on missing/unexpected/mismatched tensors.")
_FILL_DEAD_LINKS = flags.DEFINE_bool(
    "fill_dead_links", True,
    "export: copy last-stage linking layers into earlier stages when the model has "
    "link_all_stages=False (the original layout has them everywhere, unused).")
_LAYOUT = flags.DEFINE_enum(
    "layout", conversion.ORIGINAL, [conversion.ORIGINAL, conversion.SWIN_IMAGENET],
    "export: the original model's state_dict, or only the Swin backbone in the official "
    "ImageNet checkpoint layout ({'model': ...}, no 'backbone.' prefix).")
_OUTPUT = flags.DEFINE_string("output", None, "Output file (export) or directory (import).")
_REPORT = flags.DEFINE_string("report", None, "import: also write the report as JSON here.")


def main(argv):
  if len(argv) != 2 or argv[1] not in ("export", "import"):
    raise app.UsageError("Usage: python -m video_knet_jax.convert {export|import} --config=... "
                         "(see the module docstring).")
  for name, flag in (("config", _CONFIG.value), ("output", _OUTPUT.value)):
    if flag is None:
      raise app.UsageError(f"--{name} is required.")
  if argv[1] == "export":
    if not _CHECKPOINT.value:
      raise app.UsageError("export needs --checkpoint=DIR or --checkpoint=random.")
    conversion.export(_CONFIG.value, _CHECKPOINT.value, _OUTPUT.value, step=_STEP.value,
                      fill_dead_links=_FILL_DEAD_LINKS.value, layout=_LAYOUT.value)
    return
  if not _TORCH.value:
    raise app.UsageError("import needs --torch=FILE.")
  try:
    report = conversion.import_torch(_CONFIG.value, _TORCH.value, _OUTPUT.value,
                                     source=_SOURCE.value, strict=_STRICT.value)
  except torch_to_flax.ConversionError as e:
    raise SystemExit(str(e)) from None
  print(report.summary())
  if _REPORT.value:
    os.makedirs(os.path.dirname(os.path.abspath(_REPORT.value)), exist_ok=True)
    with open(_REPORT.value, "w") as f:
      json.dump(dataclasses.asdict(report), f, indent=1)


if __name__ == "__main__":
  app.run(entry_point.guard(main), flags_parser=entry_point.parse_flags)
