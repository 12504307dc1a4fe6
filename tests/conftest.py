"""Test setup: emulate 8 CPU devices before JAX starts; keep TF off GPUs."""
import os

import pytest

os.environ.setdefault("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in os.environ["XLA_FLAGS"]:
  os.environ["XLA_FLAGS"] += " --xla_force_host_platform_device_count=8"
# XLA:CPU aborts the process when the emulated devices of a collective do not
# all arrive within 40 s, which a CI machine loaded 7x over its 2 cores
# reaches (seen: a YouTube-VIS step's all-gather); real hangs still end.
if "xla_cpu_collective_call_terminate_timeout_seconds" not in os.environ["XLA_FLAGS"]:
  os.environ["XLA_FLAGS"] += " --xla_cpu_collective_call_terminate_timeout_seconds=600"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# train.py, evaluate.py and predict add XLA:CPU options of their own on some
# CPUs (cli/host_cpu.py); the recorded digests and cross-process comparisons
# assume XLA's defaults, in child processes too (tests/cli/test_host_cpu.py
# tests those options).
os.environ.setdefault("VIDEO_KNET_DEFAULT_XLA_FLAGS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Reuse XLA compilations across tests (identical train steps are compiled by
# several tests) and across local runs.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join("/tmp", f"video_knet_jax_xla_cache_{os.getuid()}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")

# The longest files first: with `-n 2 --dist loadfile` each file runs in one
# worker, so a long file collected last would leave one core idle at the end.
_LONGEST_FIRST = (
    "test_multiprocess.py", "test_hard_kill.py", "test_golden_digest.py",
    "test_loop.py", "test_driver.py", "test_new_datasets_end_to_end.py",
    "test_coco_end_to_end.py", "test_deformable_vis_end_to_end.py",
    "test_swin_train.py", "test_device_benchmark.py", "test_lowering.py",
    "test_step.py", "test_export.py", "test_predict.py",
    "test_api.py", "test_recipes.py")


def pytest_collection_modifyitems(config, items):
  del config
  rank = {name: i for i, name in enumerate(_LONGEST_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable.


@pytest.fixture(scope="session")
def task_data_dir(tmp_path_factory):
  """One TFDS data_dir for the tiny task configs (tests/task_configs.py) of a
  session: each generated set is built once per test process."""
  return str(tmp_path_factory.mktemp("task_tfds"))
