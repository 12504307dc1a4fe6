r"""Golden digests of 4 training steps + evaluation for each task's debug config.

  python -m tests.golden_digest --output=/tmp/digests.json [--configs=NAME,...]

Runs, on ONE CPU device, the training loop for 4 steps (a checkpoint every
step) and the evaluation of the last checkpoint for
  synthetic_step.py:debug (Video K-Net), cityscapes_step.py:debug (image
  K-Net), vspw.py:debug (semantic K-Net), youtube_vis.py:debug (KNetTrack),
and writes per config: every step's measurements (loss parts, norms, learning
rate), a hash of params / batch statistics / optimizer state after every step
(read back from the checkpoints), the checkpoint's tree (path, shape, dtype)
and meta, the evaluation's metrics.json and a hash of every file it wrote.
`tests/golden_digests.json` holds the digests recorded before the three
training stacks became one (issue 25); `tests/test_golden_digest.py` checks
that the code still produces them. Regenerate (after an INTENDED change, in
its own commit saying why) with `--output=tests/golden_digests.json`.
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile
import time

NUM_STEPS = 4
CONFIGS = ("synthetic_step", "cityscapes_step", "vspw", "youtube_vis")
# Measurements that depend on the clock, not on the computation.
_TIMING = ("steps_per_sec", "clips_per_sec")


def _sha(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()[:16]


def tree_digest(tree) -> str:
  """Hash of a pytree's leaves: path, dtype, shape and bytes of each."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  h = hashlib.sha256()
  for path, leaf in sorted(
      ((jax.tree_util.keystr(p), x)
       for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]),
      key=lambda item: item[0]):
    leaf = np.asarray(leaf)
    h.update(f"{path}|{leaf.dtype}|{leaf.shape}|".encode())
    h.update(np.ascontiguousarray(leaf).tobytes())
  return h.hexdigest()[:16]


def tree_layout(tree) -> list[str]:
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  return sorted(f"{jax.tree_util.keystr(p)} {np.asarray(x).dtype} "
                f"{list(np.shape(x))}"
                for p, x in jax.tree_util.tree_flatten_with_path(tree)[0])


def files_digest(directory: str) -> dict[str, str]:
  out = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, directory)] = _sha(f.read())
  return dict(sorted(out.items()))


def load_config(name: str, data_dir: str):
  """The config's ':debug' variant, 4 steps, a kept checkpoint every step."""
  import importlib  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))), "configs"))
  config = importlib.import_module(name).get_config("debug")
  config.data.data_dir = data_dir
  config.train.num_steps = NUM_STEPS
  config.train.checkpoint_every_steps = 1
  config.train.keep_checkpoints = NUM_STEPS
  config.train.log_every_steps = 1
  if "eval_every_steps" in config.train:
    config.train.eval_every_steps = 0
  return config


class _MeasurementRecorder:
  """Records every step's measurements as the loop fetches them (each step,
  with log_every_steps=1)."""

  def __init__(self):
    from video_knet_jax.train import loop  # pylint: disable=g-import-not-at-top
    self._module, self._real = loop, loop.fetch_measurements
    self.records = []

  def __enter__(self):
    def recording(pending):
      fetched = self._real(pending)
      self.records += [values for _, values in fetched]
      return fetched
    self._module.fetch_measurements = recording
    return self

  def __exit__(self, *exc):
    self._module.fetch_measurements = self._real


def train(name: str, config, workdir: str) -> list[dict]:
  """Runs the training loop; returns each step's measurements."""
  del name
  from video_knet_jax.train import loop  # pylint: disable=g-import-not-at-top
  with _MeasurementRecorder() as recorder:
    loop.train_and_evaluate(config, workdir)
  return recorder.records


def evaluate(name: str, config, workdir: str, output_dir: str) -> None:
  """evaluate.py's path on the workdir's latest checkpoint."""
  del name
  from video_knet_jax.eval import driver  # pylint: disable=g-import-not-at-top
  driver.evaluate_checkpoint(config, workdir, output_dir=output_dir)


def digest(name: str, root: str) -> dict:
  import numpy as np  # pylint: disable=g-import-not-at-top
  from video_knet_jax import checkpointing  # pylint: disable=g-import-not-at-top
  config = load_config(name, os.path.join(root, "tfds"))
  workdir = os.path.join(root, name)
  start = time.time()
  records = train(name, config, workdir)
  print(f"{name}: trained in {time.time() - start:.1f} s", flush=True)
  if len(records) != NUM_STEPS:
    raise AssertionError(f"{name}: {len(records)} measurement fetches, "
                         f"expected one per step ({NUM_STEPS}).")
  steps = []
  for step, values in enumerate(records, start=1):
    tree = checkpointing.load_train_tree(workdir, step)
    steps.append({
        "step": step,
        "measurements": {k: repr(float(np.float32(v)))
                         for k, v in sorted(values.items())
                         if k not in _TIMING},
        "params": tree_digest(tree["params"]),
        "batch_stats": tree_digest(tree.get("batch_stats", {})),
        "opt_state": tree_digest(tree["opt_state"]),
        "saved_step": int(tree["step"]),
    })
  last = checkpointing.load_train_tree(workdir, NUM_STEPS)
  with open(os.path.join(workdir, checkpointing.CHECKPOINT_SUBDIR,
                         str(NUM_STEPS), "meta", "metadata")) as f:
    meta = json.load(f)
  output_dir = os.path.join(root, f"{name}_eval")
  start = time.time()
  evaluate(name, config, workdir, output_dir)
  print(f"{name}: evaluated in {time.time() - start:.1f} s", flush=True)
  metrics_path = os.path.join(output_dir, "metrics.json")
  with open(metrics_path) as f:
    metrics = json.load(f)
  return {"steps": steps, "checkpoint_tree": tree_layout(last),
          "checkpoint_meta": meta, "metrics": metrics,
          "files": files_digest(output_dir)}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--output", required=True)
  parser.add_argument("--configs", default=",".join(CONFIGS))
  args = parser.parse_args(argv)
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  flags = [f for f in os.environ.get("XLA_FLAGS", "").split()
           if not f.startswith("--xla_force_host_platform_device_count")]
  os.environ["XLA_FLAGS"] = " ".join(
      flags + ["--xla_force_host_platform_device_count=1"])
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import jax  # pylint: disable=g-import-not-at-top
  if jax.device_count() != 1:
    raise RuntimeError(f"golden digests are taken on 1 device, found "
                       f"{jax.device_count()} (XLA_FLAGS set too late?).")
  out = {}
  with tempfile.TemporaryDirectory(prefix="golden_digest_") as root:
    for name in args.configs.split(","):
      out[name] = digest(name, root)
      print(f"{name}: done", flush=True)
  with open(args.output, "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write("\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())
