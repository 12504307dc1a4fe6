r"""Exports the per-frame model for other runtimes: StableHLO or a TF SavedModel.

  python -m video_knet_jax.export --config=configs/kitti_step.py \
      --checkpoint=DIR --format=stablehlo --output=OUT_DIR
  python -m video_knet_jax.export --config=... --checkpoint=DIR \
      --format=saved_model --output=OUT_DIR

Two functions are exported, with the weights inside:
  first_frame(image)                   the first frame of a video (no link)
  next_frame(image, previous_kernels)  later frames (kernels of the frame before)
image [B, H, W, 3] float32 is the frame normalised with config.data.mean/std
and zero padded bottom/right to multiples of 32; previous_kernels is the
previous call's `kernels`. B is symbolic, and so are H and W (any multiples
of 32: `32*h`, `32*w`). Outputs (a dict): mask_logits [B, N, H/8, W/8],
cls_logits [B, N, C], kernels [B, N, D], track_embeddings [B, P, E],
rpn_seg_logits [B, C, H/8, W/8]: what the panoptic merge and the tracker of
`inference/` consume.

stablehlo: OUT_DIR/{first_frame,next_frame}.stablehlo, `jax.export`
serializations; reload with `jax.export.deserialize(bytes).call(...)`.
saved_model: OUT_DIR is a TensorFlow SavedModel (jax2tf, native
serialization) with signatures `first_frame` and `next_frame`, served by
`tf.saved_model.load(OUT_DIR)` without JAX. Both write OUT_DIR/export.json
(inputs, outputs, normalisation, class names).
"""
import json
import os
import sys
from typing import Any, Callable, Dict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # pylint: disable=g-import-not-at-top
from ml_collections import config_flags

from video_knet_jax import common  # pylint: disable=g-import-not-at-top

OUTPUT_KEYS = (common.MASK_LOGITS, common.CLS_LOGITS, common.KERNELS,
               common.TRACK_EMBEDDINGS, common.RPN_SEG_LOGITS)
FORMATS = ("stablehlo", "saved_model")
IMAGE_SHAPE = "b, 32*h, 32*w, 3"          # jax.export symbolic shape of `image`.
EXIT_BAD_INPUT = 2


def frame_functions(model) -> Dict[str, Callable]:
  """{'first_frame': f(variables, image), 'next_frame': f(variables, image, kernels)}."""
  def first_frame(v, image):
    out = model.apply(v, image, train=False)
    return {k: out[k] for k in OUTPUT_KEYS}

  def next_frame(v, image, previous_kernels):
    out = model.apply(v, image, previous_kernels=previous_kernels, train=False)
    return {k: out[k] for k in OUTPUT_KEYS}
  return {"first_frame": first_frame, "next_frame": next_frame}


def kernel_shape(config):
  """(N, D) of `kernels`: thing + stuff kernels, feat_channels."""
  m = config.model
  return m.num_proposals + m.num_stuff_classes, m.feat_channels


def export_stablehlo(config, model, variables, output_dir: str) -> Dict[str, Any]:
  """Writes {first,next}_frame.stablehlo with the variables as constants."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from jax import export  # pylint: disable=g-import-not-at-top
  image_shape = export.symbolic_shape(IMAGE_SHAPE)
  n, d = kernel_shape(config)
  image = jax.ShapeDtypeStruct(image_shape, jnp.float32)
  kernels = jax.ShapeDtypeStruct((image_shape[0], n, d), jnp.float32)
  functions = frame_functions(model)
  files = {}
  for name, args in (("first_frame", (image,)), ("next_frame", (image, kernels))):
    fn = functions[name]
    exported = export.export(jax.jit(lambda *a, fn=fn: fn(variables, *a)))(*args)
    path = os.path.join(output_dir, f"{name}.stablehlo")
    with open(path, "wb") as f:
      f.write(exported.serialize())
    files[name] = os.path.basename(path)
  return files


def export_saved_model(config, model, variables, output_dir: str) -> Dict[str, Any]:
  """Writes a TF SavedModel (weights as tf.Variables) with two signatures."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from jax.experimental import jax2tf  # pylint: disable=g-import-not-at-top
  n, d = kernel_shape(config)
  functions = frame_functions(model)
  module = tf.Module()
  module.variables_tree = tf.nest.map_structure(
      lambda x: tf.Variable(x, trainable=False), variables)
  image_poly = "(b, 32*h, 32*w, 3)"
  first = jax2tf.convert(functions["first_frame"], with_gradient=False,
                         polymorphic_shapes=[None, image_poly])
  later = jax2tf.convert(functions["next_frame"], with_gradient=False,
                         polymorphic_shapes=[None, image_poly, "(b, _, _)"])
  image_spec = tf.TensorSpec([None, None, None, 3], tf.float32, name="image")
  kernel_spec = tf.TensorSpec([None, n, d], tf.float32, name="previous_kernels")
  module.first_frame = tf.function(
      lambda image: first(module.variables_tree, image), autograph=False,
      input_signature=[image_spec])
  module.next_frame = tf.function(
      lambda image, previous_kernels: later(module.variables_tree, image, previous_kernels),
      autograph=False, input_signature=[image_spec, kernel_spec])
  tf.saved_model.save(module, output_dir, signatures={
      "first_frame": module.first_frame.get_concrete_function(),
      "next_frame": module.next_frame.get_concrete_function()})
  return {"first_frame": "signature", "next_frame": "signature"}


def run(config, checkpoint: str, fmt: str, output_dir: str, step=None) -> Dict[str, Any]:
  """Loads the checkpoint (checked against the config) and exports it."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from video_knet_jax import api  # pylint: disable=g-import-not-at-top
  from video_knet_jax.models import video_knet  # pylint: disable=g-import-not-at-top
  if fmt not in FORMATS:
    raise ValueError(f"--format={fmt!r}; expected one of {FORMATS}.")
  config = api.load_config(config)
  from video_knet_jax import tasks  # pylint: disable=g-import-not-at-top
  tasks.base.require(tasks.get(config), config, "export", "export")
  variables = api.load_checked_variables(config, checkpoint, step)
  variables = jax.tree.map(lambda x: np.asarray(x, np.float32) if np.issubdtype(
      np.asarray(x).dtype, np.floating) else np.asarray(x), variables)
  model = video_knet.build_model(config)
  os.makedirs(output_dir, exist_ok=True)
  if fmt == "stablehlo":
    files = export_stablehlo(config, model, variables, output_dir)
  else:
    files = export_saved_model(config, model, variables, output_dir)
  n, d = kernel_shape(config)
  meta = {
      "format": fmt, "functions": files,
      "inputs": {"image": "[B, 32*h, 32*w, 3] float32, (rgb - mean) / std, zero padded "
                          "bottom/right",
                 "previous_kernels": f"[B, {n}, {d}] float32 (next_frame only)"},
      "outputs": list(OUTPUT_KEYS),
      "mean": list(config.data.mean), "std": list(config.data.std),
      "size_divisor": int(config.data.size_divisor),
      "num_proposals": int(config.model.num_proposals),
      "class_names": list(api.class_names(config)),
      "thing_train_ids": list(config.data.thing_train_ids),
  }
  with open(os.path.join(output_dir, "export.json"), "w") as f:
    json.dump(meta, f, indent=1)
  return meta


def define_flags(fv: flags.FlagValues, argv=None) -> None:
  """export's flags, on their own FlagValues (importing this module defines none);
  the `--config.a.b=value` overrides are those of `argv` (default sys.argv)."""
  config_flags.DEFINE_config_file("config", None, "Model config.", lock_config=True,
                                  flag_values=fv, sys_argv=argv)
  flags.DEFINE_string("checkpoint", None,
                      "Training workdir, converted variables dir, or 'random'.", flag_values=fv)
  flags.DEFINE_integer("step", None, "Training checkpoint step (default latest).",
                       flag_values=fv)
  flags.DEFINE_enum("format", "stablehlo", list(FORMATS), "Export format.", flag_values=fv)
  flags.DEFINE_string("output", None, "Output directory.", flag_values=fv)


def main(argv=None) -> int:
  """The command line (see the module docstring); returns the exit status."""
  from video_knet_jax import api  # pylint: disable=g-import-not-at-top
  from video_knet_jax import predict  # pylint: disable=g-import-not-at-top
  argv = sys.argv if argv is None else argv
  status, fv = predict.parse_args(argv, __doc__, define_flags)
  if fv is None:
    return status
  for name in ("config", "checkpoint", "output"):
    if fv[name].value is None:
      print(f"error: --{name} is required (--help for usage).", file=sys.stderr)
      return EXIT_BAD_INPUT
  try:
    meta = run(fv.config, fv.checkpoint, fv.format, fv.output, step=fv.step)
  except api.CheckpointError as e:
    print(f"error: {e}", file=sys.stderr)
    return EXIT_BAD_INPUT
  print(f"Exported {', '.join(meta['functions'])} ({fv.format}) to {fv.output}")
  return 0


def cli():
  """Console-script entry point (vknet-export)."""
  sys.exit(main())


if __name__ == "__main__":
  cli()
