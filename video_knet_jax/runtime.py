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
    jax.distributed.initialize()
    logging.info("JAX distributed: process %d of %d.", jax.process_index(),
                 jax.process_count())


class _QuietLibraries:
  """Drops INFO chatter of Orbax (a dozen lines per checkpoint) from the log."""

  def filter(self, record) -> bool:
    noisy = "/orbax/" in record.pathname
    return not (noisy and record.levelno < std_logging.WARNING)


# jaxlib 0.10's XLA:CPU runs convolutions (and their gradients) as YNNPACK
# fusions; turning that off made the synthetic train step 1.2x faster on an
# x86 CPU (docs/BENCHMARKS.md). The flag is experimental: it is only added on
# jaxlib releases where it was measured, and never over the user's own choice.
CPU_XLA_FLAG = "--xla_cpu_experimental_ynn_fusion_type="
CPU_XLA_FLAG_JAXLIB = ("0.10.",)


def tune_cpu_xla_flags() -> bool:
  """Adds `CPU_XLA_FLAG` to XLA_FLAGS; returns whether it did.

  Call before JAX creates its backends (XLA reads XLA_FLAGS then). Skipped
  when XLA_FLAGS already mentions YNN fusion or jaxlib is not a measured
  release.
  """
  import jaxlib.version  # pylint: disable=g-import-not-at-top
  flags = os.environ.get("XLA_FLAGS", "")
  if ("ynn_fusion_type" in flags
      or not jaxlib.version.__version__.startswith(CPU_XLA_FLAG_JAXLIB)):
    return False
  os.environ["XLA_FLAGS"] = f"{flags} {CPU_XLA_FLAG}".strip()
  return True


def setup() -> None:
  """Keeps TensorFlow (tf.data only) off accelerators and starts JAX."""
  tune_cpu_xla_flags()
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
