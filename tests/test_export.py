"""export: StableHLO and SavedModel round trips of the full R50 model at 64x96.

Random (cheap, uncompiled) R50 variables; `next_frame` (the path with the
kernel link) is run three ways on one input: jax.jit of the Flax model, the
deserialized StableHLO, and the SavedModel loaded by TensorFlow in a process
where JAX cannot be imported. Tolerance: 1e-4 absolute + 1e-4 relative
(float32; the CPU kernels of XLA and TF may order sums differently).
`first_frame` is checked by its symbolic signature only (each extra call
would compile the model again).
"""
import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from tests.convert import model_fixtures
from video_knet_jax import checkpointing
from video_knet_jax import common
from video_knet_jax import export
from video_knet_jax.models import video_knet

TOLERANCE = dict(rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def r50(tmp_path_factory):
  """configs/kitti_step.py (full R50) with random variables saved as a checkpoint."""
  config = model_fixtures.config(link_all_stages=False)
  variables = model_fixtures.random_variables(model_fixtures.abstract(config), seed=1)
  variables["batch_stats"] = jax.tree.map(lambda x: np.abs(x) + 0.5, variables["batch_stats"])
  directory = str(tmp_path_factory.mktemp("r50") / "variables")
  checkpointing.save_variables(directory, variables)
  rng = np.random.RandomState(0)
  image = rng.randn(1, 64, 96, 3).astype(np.float32)
  n, d = export.kernel_shape(config)
  kernels = rng.randn(1, n, d).astype(np.float32)
  model = video_knet.build_model(config)
  reference = jax.device_get(jax.jit(
      lambda v, x, k: export.frame_functions(model)["next_frame"](v, x, k))(
          variables, image, kernels))
  return config, directory, image, kernels, reference


def _compare(outputs, reference):
  assert sorted(outputs) == sorted(export.OUTPUT_KEYS)
  for key in export.OUTPUT_KEYS:
    np.testing.assert_allclose(np.asarray(outputs[key]), reference[key], err_msg=key,
                               **TOLERANCE)


def test_stablehlo_round_trip(r50, tmp_path):
  config, directory, image, kernels, reference = r50
  out = str(tmp_path / "stablehlo")
  meta = export.run(config, directory, "stablehlo", out)
  assert meta["outputs"] == list(export.OUTPUT_KEYS)
  with open(os.path.join(out, "export.json")) as f:
    assert json.load(f)["class_names"][13] == "car"
  loaded = {}
  for name in ("first_frame", "next_frame"):
    with open(os.path.join(out, f"{name}.stablehlo"), "rb") as f:
      loaded[name] = jax.export.deserialize(f.read())
  # Batch and spatial sizes are symbolic: b, 32*h, 32*w.
  assert str(loaded["first_frame"].in_avals[0].shape) == "(b, 32*h, 32*w, 3)"
  n = config.model.num_proposals + config.model.num_stuff_classes
  first_masks = loaded["first_frame"].out_avals[
      sorted(export.OUTPUT_KEYS).index(common.MASK_LOGITS)]
  assert str(first_masks.shape) == f"(b, {n}, 4*h, 4*w)"
  _compare(loaded["next_frame"].call(image, kernels), reference)


_SERVE = textwrap.dedent("""
    import sys
    sys.modules["jax"] = None            # serving must not need JAX.
    import numpy as np
    import tensorflow as tf
    model_dir, inputs, outputs = sys.argv[1:]
    model = tf.saved_model.load(model_dir)
    data = np.load(inputs)
    first = model.signatures["first_frame"]
    specs = first.structured_input_signature[1]
    print("first_frame input", specs["image"].shape)
    out = model.signatures["next_frame"](image=tf.constant(data["image"]),
                                         previous_kernels=tf.constant(data["kernels"]))
    np.savez(outputs, **{k: v.numpy() for k, v in out.items()})
""")


def test_saved_model_served_by_tensorflow_without_jax(r50, tmp_path):
  config, directory, image, kernels, reference = r50
  out = str(tmp_path / "saved_model")
  variables = checkpointing.load_variables(directory)
  export.export_saved_model(config, video_knet.build_model(config), variables, out)
  np.savez(tmp_path / "inputs.npz", image=image, kernels=kernels)
  result = subprocess.run(
      [sys.executable, "-c", _SERVE, out, str(tmp_path / "inputs.npz"),
       str(tmp_path / "outputs.npz")],
      capture_output=True, text=True, timeout=600, check=False,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert result.returncode == 0, result.stderr[-3000:]
  assert "first_frame input (None, None, None, 3)" in result.stdout
  _compare(dict(np.load(tmp_path / "outputs.npz")), reference)


def test_checkpoint_not_fitting_the_config_is_refused(tmp_path, capsys):
  debug = model_fixtures.config("debug")
  directory = str(tmp_path / "debug_variables")
  checkpointing.save_variables(directory, model_fixtures.random_variables(
      model_fixtures.abstract(debug)))
  status = export.main(["export", "--config=configs/kitti_step.py", f"--checkpoint={directory}",
                        "--format=stablehlo", f"--output={tmp_path / 'out'}"])
  err = capsys.readouterr().err
  assert status == 2 and err.startswith(f"error: {directory}: does not fit the config"), err
  assert err.count("\n") == 1
