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


class _QuietLibraries:
  """Drops INFO chatter of Orbax (a dozen lines per checkpoint) from the log."""

  def filter(self, record) -> bool:
    noisy = "/orbax/" in record.pathname
    return not (noisy and record.levelno < std_logging.WARNING)


def setup() -> None:
  """Keeps TensorFlow (tf.data only) off accelerators and starts JAX."""
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
