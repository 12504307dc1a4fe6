"""A tiny synthetic STEP set, generated and built once per test session."""
import importlib.util
import pathlib

import pytest

_CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"


def load_config(name, arg=""):
  spec = importlib.util.spec_from_file_location(name, _CONFIGS / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory):
  """configs/synthetic_step.py:debug on a 2x1x6 set of 64x192 frames."""
  config = load_config("synthetic_step", "debug")
  config.data.data_dir = str(tmp_path_factory.mktemp("tfds"))
  config.data.synthetic = dict(seed=0, num_train_sequences=2,
                               num_val_sequences=1, frames_per_sequence=6,
                               height=64, width=192)
  config.train.batch_size = 8
  return config
