"""Process start-up shared by the entry points: devices, TF, distributed."""
import logging as std_logging
import os

from absl import logging


def maybe_initialize_distributed() -> None:
  """Initialises multi-host JAX only when the launcher asked for it.

  Cloud TPU pods and SLURM/multi-GPU launchers set these variables; a bare
  `jax.distributed.initialize()` on one CPU/GPU host would fail or hang.
  """
  import jax  # pylint: disable=g-import-not-at-top
  env = os.environ
  launched = (bool(env.get("JAX_COORDINATOR_ADDRESS"))
              or "," in env.get("TPU_WORKER_HOSTNAMES", "")
              or int(env.get("SLURM_NTASKS", "1")) > 1
              or int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1)
  if launched:
    kwargs = {}
    if env.get("JAX_NUM_PROCESSES"):
      # A hand-made launch (e.g. several processes on one machine): JAX reads
      # only the coordinator address from the environment, not these two.
      kwargs = dict(coordinator_address=env["JAX_COORDINATOR_ADDRESS"],
                    num_processes=int(env["JAX_NUM_PROCESSES"]),
                    process_id=int(env["JAX_PROCESS_ID"]))
    if env.get("JAX_PLATFORMS", "") == "cpu":
      # Cross-process collectives on CPU need an implementation (gloo).
      jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(**kwargs)
    logging.info("JAX distributed: process %d of %d.", jax.process_index(),
                 jax.process_count())
    if jax.devices()[0].platform == "cpu":
      _open_cpu_collectives()


def _open_cpu_collectives() -> None:
  """Opens gloo's communicators while the processes are in step.

  gloo waits only 30 s for the other processes when a group of devices first
  communicates (not configurable in jax 0.10.2); later collectives wait as
  long as needed. `jax.distributed.initialize()` has just lined the processes
  up, so opening the groups here cannot time out, whereas the first train
  step, after each process's own compilation, can (seen on a loaded machine).
  """
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  from jax.sharding import Mesh, NamedSharding, PartitionSpec  # pylint: disable=g-import-not-at-top
  mesh = Mesh(np.asarray(jax.devices()), ("all",))
  ones = jax.make_array_from_process_local_data(
      NamedSharding(mesh, PartitionSpec("all")),
      np.ones((jax.local_device_count(),), np.float32))
  total = jax.jit(lambda x: x.sum(),
                  out_shardings=NamedSharding(mesh, PartitionSpec()))(ones)
  if int(total) != jax.device_count():   # all devices: the train step's group.
    raise RuntimeError(f"Cross-process sum over {jax.device_count()} devices "
                       f"gave {float(total)}.")
  # One device per process: the group of Orbax's and JAX's barriers.
  multihost_utils.sync_global_devices("video_knet_jax_runtime_start")


class _QuietLibraries:
  """Drops INFO chatter of Orbax (a dozen lines per checkpoint) from the log."""

  def filter(self, record) -> bool:
    noisy = "/orbax/" in record.pathname
    return not (noisy and record.levelno < std_logging.WARNING)


def setup() -> None:
  """Keeps TensorFlow (tf.data only) off accelerators and starts JAX; on a
  host CPU, first makes the host settings (`host_cpu`: malloc, XLA flags)."""
  from video_knet_jax.cli import host_cpu  # pylint: disable=g-import-not-at-top
  for setting in host_cpu.setup():
    logging.info("Host CPU: %s (cli/host_cpu.py).", setting)
  logging.get_absl_handler().addFilter(_QuietLibraries())
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tf.config.set_visible_devices([], "GPU")
  except (ImportError, RuntimeError, ValueError) as e:
    logging.info("TensorFlow device setup skipped: %s", e)
  maybe_initialize_distributed()
  import jax  # pylint: disable=g-import-not-at-top
  logging.info("JAX %s on %d %s device(s), %d process(es).", jax.__version__,
               jax.device_count(), jax.devices()[0].platform,
               jax.process_count())
