"""Test setup: emulate 8 CPU devices before JAX starts; keep TF off GPUs."""
import os

os.environ.setdefault("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in os.environ["XLA_FLAGS"]:
  os.environ["XLA_FLAGS"] += " --xla_force_host_platform_device_count=8"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Reuse XLA compilations across tests (identical train steps are compiled by
# several tests) and across local runs.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join("/tmp", f"video_knet_jax_xla_cache_{os.getuid()}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")

# The longest files first: with `-n 2 --dist loadfile` each file runs in one
# worker, so a long file collected last would leave one core idle at the end.
_LONGEST_FIRST = (
    "test_multiprocess.py", "test_hard_kill.py", "test_train_loop.py",
    "test_new_datasets_end_to_end.py", "test_swin_train.py",
    "test_youtube_vis_end_to_end.py", "test_semantic_vspw.py", "test_device_benchmark.py",
    "test_lowering.py",
    "test_train_loop_fetch.py", "test_export.py", "test_predict.py",
    "test_api.py")


def pytest_collection_modifyitems(config, items):
  del config
  rank = {name: i for i, name in enumerate(_LONGEST_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable.
