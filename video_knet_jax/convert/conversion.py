"""Checkpoint conversion entry points: export Flax -> PyTorch, import PyTorch -> Flax.

Used by `python -m video_knet_jax.convert` (see `__main__`); importable
without defining any command-line flags.
"""
from absl import logging
from flax import traverse_util
import numpy as np

from video_knet_jax import checkpointing
from video_knet_jax.convert import flax_to_torch
from video_knet_jax.convert import model_variables
from video_knet_jax.convert import reference_keys
from video_knet_jax.convert import sources
from video_knet_jax.convert import torch_files
from video_knet_jax.convert import torch_to_flax


ORIGINAL, SWIN_IMAGENET = "original", "swin_imagenet"


def export(config, checkpoint: str, output: str, *, step=None, fill_dead_links=True,
           layout: str = ORIGINAL) -> dict:
  """Writes the original-layout state_dict of `checkpoint`; returns it (numpy).

  `layout='swin_imagenet'` writes only the Swin backbone, in the official
  classification checkpoint's names and `{'model': ...}` wrapper.
  """
  variables = model_variables.load_variables(config, checkpoint, step)
  _check_structure(variables, model_variables.abstract_variables(config), checkpoint)
  state = flax_to_torch.flax_to_torch(variables, fill_dead_links=fill_dead_links,
                                      log=logging.info)
  if layout == SWIN_IMAGENET:
    state = flax_to_torch.to_swin_imagenet(state)
    torch_files.save_state_dict(output, state, wrapper="model")
    logging.info("Wrote the Swin backbone (%d tensors) to %s.", len(state), output)
    return state
  if layout != ORIGINAL:
    raise ValueError(f"export layout {layout!r}; expected {ORIGINAL!r} or {SWIN_IMAGENET!r}.")
  ours = {k: (tuple(v.shape), str(v.dtype)) for k, v in state.items()}
  matches = [name for name in reference_keys.ALL
             if ours == {e.key: (e.shape, e.dtype) for e in reference_keys.load(name)}]
  layout = (f"the original layout ({matches[0]})" if matches
            else "not one of the original layouts (another size or variant)")
  logging.info("Exporting %d tensors (%d elements), %s.", len(state),
               sum(int(np.prod(v.shape)) for v in state.values()), layout)
  meta = {"source": "video_knet_jax", "checkpoint": str(checkpoint),
          "num_classes": int(config.model.num_thing_classes + config.model.num_stuff_classes),
          "num_thing_classes": int(config.model.num_thing_classes),
          "original_layout": bool(matches)}
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
