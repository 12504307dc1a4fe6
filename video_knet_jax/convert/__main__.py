r"""PyTorch <-> Flax checkpoint conversion for Video K-Net.

  # Flax (variables dir, training workdir or 'random') -> original state_dict:
  python -m video_knet_jax.convert export --config=configs/kitti_step.py \
      --checkpoint=DIR --output=model.pth            # or model.safetensors
  # Original Video K-Net / image K-Net / torchvision ResNet -> Orbax variables:
  python -m video_knet_jax.convert import --config=configs/kitti_step.py \
      --torch=knet_r50_city.pth --output=DIR [--source=auto] [--nostrict]

The import writes `{'params', 'batch_stats'}` with `checkpointing.save_variables`;
point `config.init_from.checkpoint` (train.py) or `--checkpoint` (evaluate.py)
at it. Strictness depends on the source: an image K-Net may lack the tracking
layers and a torchvision ResNet everything but the backbone; anything else
missing, any unexpected tensor and any shape mismatch is an error unless
`--nostrict` (shape mismatches always are).
"""
import dataclasses
import json
import os

from absl import app
from absl import flags
from absl import logging
from flax import traverse_util
from ml_collections import config_flags
import numpy as np

from video_knet_jax import checkpointing
from video_knet_jax.convert import flax_to_torch
from video_knet_jax.convert import model_variables
from video_knet_jax.convert import reference_keys
from video_knet_jax.convert import sources
from video_knet_jax.convert import torch_files
from video_knet_jax.convert import torch_to_flax

_CONFIG = config_flags.DEFINE_config_file("config", None, "Model config file.",
                                          lock_config=True)
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "export: variables dir, training workdir, or 'random'.")
_STEP = flags.DEFINE_integer("step", None, "export: training step (default: latest).")
_TORCH = flags.DEFINE_string("torch", None, "import: .pth/.pt/.bin/.safetensors file.")
_SOURCE = flags.DEFINE_enum("source", sources.AUTO, [sources.AUTO, *sources.SOURCES],
                            "import: checkpoint kind (auto = detect from the keys).")
_STRICT = flags.DEFINE_bool("strict", True, "import: fail on missing/unexpected tensors.")
_FILL_DEAD_LINKS = flags.DEFINE_bool(
    "fill_dead_links", True,
    "export: copy last-stage linking layers into earlier stages when the model has "
    "link_all_stages=False (the original layout has them everywhere, unused).")
_OUTPUT = flags.DEFINE_string("output", None, "Output file (export) or directory (import).")
_REPORT = flags.DEFINE_string("report", None, "import: also write the report as JSON here.")


def export(config, checkpoint: str, output: str, *, step=None, fill_dead_links=True) -> dict:
  """Writes the original-layout state_dict of `checkpoint`; returns it (numpy)."""
  variables = model_variables.load_variables(config, checkpoint, step)
  _check_structure(variables, model_variables.abstract_variables(config), checkpoint)
  state = flax_to_torch.flax_to_torch(variables, fill_dead_links=fill_dead_links,
                                      log=logging.info)
  reference = {e.key: (e.shape, e.dtype) for e in reference_keys.load(reference_keys.VIDEO_KNET_R50)}
  ours = {k: (tuple(v.shape), str(v.dtype)) for k, v in state.items()}
  layout = "the original R50 layout" if ours == reference else "a non-R50 / non-original layout"
  logging.info("Exporting %d tensors (%d elements), %s.", len(state),
               sum(int(np.prod(v.shape)) for v in state.values()), layout)
  meta = {"source": "video_knet_jax", "checkpoint": str(checkpoint),
          "num_classes": int(config.model.num_thing_classes + config.model.num_stuff_classes),
          "num_thing_classes": int(config.model.num_thing_classes),
          "original_layout": ours == reference}
  torch_files.save_state_dict(output, state, meta)
  logging.info("Wrote %s.", output)
  return state


def import_torch(config, torch_path: str, output: str, *, source=sources.AUTO,
                 strict=True) -> torch_to_flax.ImportReport:
  """Converts a PyTorch checkpoint into a variables dir for `config`'s model."""
  state, meta = torch_files.load_state_dict(torch_path)
  logging.info("Read %d tensors from %s (meta keys: %s).", len(state), torch_path, sorted(meta))
  template = model_variables.abstract_variables(config)
  variables, report = torch_to_flax.torch_to_flax(state, template, source=source,
                                                  strict=strict, path=torch_path)
  if report.left_at_init:   # Only now pay for a real initialisation.
    variables = torch_to_flax.fill_left_at_init(variables, model_variables.init_variables(config))
  checkpointing.save_variables(output, variables)
  logging.info("Wrote %s.", output)
  return report


def _check_structure(variables, abstract, checkpoint):
  """The checkpoint must hold exactly the variables of the config's model."""
  def shapes(tree):
    return {f"{c}/{p}": tuple(np.shape(v)) for c in tree
            for p, v in traverse_util.flatten_dict(dict(tree[c]), sep="/").items()}
  have, want = shapes(variables), shapes(abstract)
  if have != want:
    extra = sorted(set(have) - set(want))[:5]
    lack = sorted(set(want) - set(have))[:5]
    bad = [(k, have[k], want[k]) for k in have.keys() & want.keys() if have[k] != want[k]][:5]
    raise ValueError(f"{checkpoint} does not match the model of --config: not in the model "
                     f"{extra}, missing {lack}, shape differences {bad}.")


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
    export(_CONFIG.value, _CHECKPOINT.value, _OUTPUT.value, step=_STEP.value,
           fill_dead_links=_FILL_DEAD_LINKS.value)
    return
  if not _TORCH.value:
    raise app.UsageError("import needs --torch=FILE.")
  try:
    report = import_torch(_CONFIG.value, _TORCH.value, _OUTPUT.value, source=_SOURCE.value,
                          strict=_STRICT.value)
  except torch_to_flax.ConversionError as e:
    raise SystemExit(str(e)) from None
  print(report.summary())
  if _REPORT.value:
    os.makedirs(os.path.dirname(os.path.abspath(_REPORT.value)), exist_ok=True)
    with open(_REPORT.value, "w") as f:
      json.dump(dataclasses.asdict(report), f, indent=1)


if __name__ == "__main__":
  app.run(main)
