"""Semantic K-Net on VSPW-format data: a tiny config overfits; train + evaluate end to end."""
import os
import shutil
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from etils import epath

from video_knet_jax.datasets import registry
from video_knet_jax.datasets.vspw import generate
from video_knet_jax.datasets.vspw import label_codec
from video_knet_jax import checkpointing
from video_knet_jax import common
from video_knet_jax import semantic_evaluate_lib
from video_knet_jax import semantic_train_lib
from video_knet_jax.evaluation import score_folders
from video_knet_jax.models import semantic_knet

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "configs"))
import vspw  # pylint: disable=g-import-not-at-top,wrong-import-position


def _tiny_config(data_dir=""):
  config = vspw.get_config("debug")
  config.data.data_dir = str(data_dir)
  config.data.generated.videos = (("train", 1), ("val", 1))
  config.data.generated.frames_per_video = 18      # > 16: mVC_16 has windows.
  config.data.generated.height = config.data.generated.width = 32
  config.data.base_size = (32, 256)
  config.data.crop_size = (32, 32)
  config.train.num_steps = 2
  config.train.log_every_steps = 1
  config.train.checkpoint_every_steps = 1      # step 1 is resumed from below.
  return config


@pytest.mark.slow
def test_tiny_config_overfits_a_fixed_batch():
  config = _tiny_config()
  spec = generate.GeneratedSpec(seed=5, videos=(("train", 2),), frames_per_video=2,
                                height=32, width=32)
  clips = [generate.render_video(spec, "train", i) for i in range(2)]
  mean, std = np.asarray(config.data.mean), np.asarray(config.data.std)
  batch = {
      common.IMAGE: jnp.asarray(np.stack([(f - mean) / std for f, _ in clips]), jnp.float32),
      common.SEMANTIC: jnp.asarray(np.stack([label_codec.raw_to_train_ids(m) for _, m in clips]),
                                   jnp.int32)}
  model = semantic_knet.build_model(config)
  tx = semantic_train_lib.make_optimizer(config)
  variables = semantic_train_lib.init_variables(model, config, jax.random.key(0))
  state = dict(params=variables["params"], batch_stats=variables["batch_stats"],
               opt_state=tx.init(variables["params"]), step=jnp.zeros((), jnp.int32))
  step = jax.jit(semantic_train_lib.make_train_step(config, model, tx))
  losses = []
  for i in range(40):
    state, m = step(state, batch)
    losses.append(float(m["loss"]))
  assert np.isfinite(losses).all()
  assert losses[-1] < 0.5 * losses[0], losses   # measured: 31.3 -> 11.8 in 40 steps.


@pytest.mark.slow
def test_train_then_evaluate_prints_miou_and_mvc(tmp_path, capsys):
  config = _tiny_config(tmp_path / "tfds")
  workdir = str(tmp_path / "work")
  metrics = semantic_train_lib.train_and_evaluate(
      config, workdir, evaluate_fn=semantic_evaluate_lib.evaluate_during_training)
  printed = capsys.readouterr().out
  assert "mIoU" in printed and "mVC8" in printed and "mVC16" in printed
  assert metrics["num_frames"] == 18
  assert metrics["windows_16"] == 18 - 16      # range(T - n) windows per video.
  assert os.path.isfile(os.path.join(workdir, "eval", "overlays", "val_0000_scene.gif"))
  # The written predictions score to the same numbers in folder-scoring mode.
  groundtruth = registry.manual_dir(config, epath.Path(config.data.data_dir))
  scored = score_folders.score_vspw(str(groundtruth), os.path.join(workdir, "eval", "predictions"))
  for key in ("mIoU", "mVC_8", "mVC_16"):
    assert scored[key] == pytest.approx(metrics[key], nan_ok=True), key
  # evaluate.py's path: the workdir's checkpoint gives the same predictions.
  saved = checkpointing.load_variables_or_workdir(workdir)
  again = semantic_evaluate_lib.evaluate_variables(config, saved, str(tmp_path / "again"))
  assert again["mIoU"] == pytest.approx(metrics["mIoU"])
  # A rerun in a workdir holding only the step-1 checkpoint resumes (optimizer
  # state, data order, dropout keys) and ends bit-identical to the unbroken
  # run (a fresh Adam state or learning-rate count, other batches or dropout
  # keys at step 2 would all change the parameters).
  split_dir = tmp_path / "split"
  shutil.copytree(os.path.join(workdir, checkpointing.CHECKPOINT_SUBDIR, "1"),
                  split_dir / checkpointing.CHECKPOINT_SUBDIR / "1")
  resumed = semantic_train_lib.train_and_evaluate(config, str(split_dir))
  assert resumed["loss_history"] == [(2, metrics["loss_history"][-1][1])]
  split = checkpointing.load_variables_or_workdir(str(split_dir))
  jax.tree.map(np.testing.assert_array_equal, split, saved)
