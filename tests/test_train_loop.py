"""train_and_evaluate end to end: resumes exactly, evaluates, fails on NaN."""
import os
import signal

import jax
import numpy as np
import pytest

from video_knet_jax.configs import synthetic_step

from video_knet_jax import checkpointing  # pylint: disable=wrong-import-position
from video_knet_jax import evaluate_lib  # pylint: disable=wrong-import-position
from video_knet_jax import train as train_package  # pylint: disable=wrong-import-position
from video_knet_jax import train_lib  # pylint: disable=wrong-import-position
from video_knet_jax.eval import driver  # pylint: disable=wrong-import-position


@pytest.fixture(scope="module")
def config(tmp_path_factory):
  config = synthetic_step.get_config("debug")
  config.data.data_dir = str(tmp_path_factory.mktemp("tfds"))
  config.train.num_steps = 6
  config.train.batch_size = 8  # one clip per emulated device.
  config.train.checkpoint_every_steps = 3
  config.train.log_every_steps = 2
  return config


def _params(workdir):
  return jax.tree.leaves(checkpointing.load_train_variables(workdir)["params"])


def test_killed_and_resumed_run_ends_with_the_same_parameters(config, tmp_path):
  straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
  never = config.copy_and_resolve_references()
  never.train.eval_every_steps = 0   # evaluate.py scores it afterwards.
  evaluated = []
  train_lib.train_and_evaluate(
      never, straight, evaluate_fn=lambda c, s, w, step: evaluated.append(step) or {})
  assert not evaluated

  def sigterm_after_step_2(unused_config, unused_state, unused_workdir, step):
    if step == 2:
      os.kill(os.getpid(), signal.SIGTERM)  # As a scheduler's preemption.
    return {}

  killed = config.copy_and_resolve_references()
  killed.train.eval_every_steps = 2
  train_lib.train_and_evaluate(killed, resumed,
                               evaluate_fn=sigterm_after_step_2)
  # SIGTERM is seen at the next step, which is checkpointed before exiting.
  assert checkpointing.TrainCheckpointer(
      resumed, save_every_steps=3).latest_step() == 3
  train_lib.train_and_evaluate(config, resumed)  # The same command again.
  a, b = _params(straight), _params(resumed)
  assert len(a) == len(b)
  for x, y in zip(a, b):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
  assert any(np.abs(x).sum() > 0 for x in a)


def test_nan_loss_stops_with_the_step_named():
  measurements = {"loss": np.float32("nan"), "s0_loss_dice": np.float32(1.0),
                  "rpn_loss_seg": np.float32("inf")}
  with pytest.raises(FloatingPointError,
                     match=r"at step 7 .*'loss', 'rpn_loss_seg'"):
    train_lib._check_finite(7, measurements)  # pylint: disable=protected-access
  train_lib._check_finite(8, {"loss": np.float32(1.0)})  # pylint: disable=protected-access


def test_evaluation_writes_metrics_predictions_and_pictures(config, tmp_path):
  from video_knet_jax.models import video_knet  # pylint: disable=g-import-not-at-top
  model = video_knet.build_model(config)
  variables = train_package.init_variables(model, config, jax.random.key(0))
  out = str(tmp_path / "eval")
  metrics = driver.evaluate(config, variables, out)
  frames = config.data.synthetic.frames_per_sequence
  assert metrics["num_frames"] == frames * config.data.synthetic.num_val_sequences
  for key in ("STQ", "AQ", "SQ", "VPQ", "PQ", "VPQ_k1", "VPQ_k4"):
    assert 0.0 <= metrics[key] <= 1.0, (key, metrics[key])
  assert os.path.exists(os.path.join(out, driver.METRICS_FILE))
  assert os.path.exists(os.path.join(out, "sequence.gif"))
  pngs = [f for _, _, files in os.walk(os.path.join(out, "predictions"))
          for f in files if f.endswith(".png")]
  assert len(pngs) == metrics["num_frames"]
  assert len(os.listdir(os.path.join(out, "pictures"))) == 4
  assert "STQ" in evaluate_lib.format_table(metrics)
