"""The device mesh and how arrays are laid out on it.

One data-parallel axis named 'data' (room for more axes in `config.mesh`).
The same code runs on one CPU, 8 emulated CPU devices, a GPU box or a pod:
batches are split over 'data', parameters and optimizer state are replicated.
"""
from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def make_mesh(mesh_spec: Sequence[tuple[str, int]] = ((DATA_AXIS, -1),),
              devices: Sequence[jax.Device] | None = None) -> Mesh:
  """Builds a mesh from `(name, size)` pairs; one size may be -1 (the rest)."""
  devices = list(jax.devices() if devices is None else devices)
  names = tuple(name for name, _ in mesh_spec)
  sizes = [int(size) for _, size in mesh_spec]
  if sizes.count(-1) > 1:
    raise ValueError(f"config.mesh {mesh_spec}: at most one axis may be -1.")
  known = int(np.prod([s for s in sizes if s != -1]))
  if -1 in sizes:
    if len(devices) % known:
      raise ValueError(f"config.mesh {mesh_spec}: {len(devices)} devices are "
                       f"not divisible by {known}.")
    sizes[sizes.index(-1)] = len(devices) // known
  if int(np.prod(sizes)) != len(devices):
    raise ValueError(f"config.mesh {mesh_spec} needs {int(np.prod(sizes))} "
                     f"devices, found {len(devices)}.")
  return Mesh(np.asarray(devices).reshape(sizes), names)


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) dimension split over the 'data' axis."""
  return NamedSharding(mesh, P(DATA_AXIS))


def num_data_shards(mesh: Mesh) -> int:
  return mesh.shape[DATA_AXIS]


def put_batch(batch: dict[str, Any], mesh: Mesh) -> dict[str, jax.Array]:
  """Turns this host's numpy batch into global arrays split over 'data'.

  Each host passes its own slice (global_batch / process_count rows); the
  result is one global `jax.Array` per key.
  """
  sharding = batch_sharding(mesh)

  def put(x):
    x = np.asarray(x)
    global_shape = (x.shape[0] * jax.process_count(),) + x.shape[1:]
    return jax.make_array_from_process_local_data(sharding, x, global_shape)

  return jax.tree.map(put, batch)


def check_batch_size(global_batch_size: int, mesh: Mesh) -> int:
  """Returns the per-host batch size; fails with the config field's name."""
  shards = num_data_shards(mesh)
  if global_batch_size % shards:
    raise ValueError(f"config.train.batch_size={global_batch_size} must be "
                     f"divisible by the {shards} devices of the 'data' axis.")
  if global_batch_size % jax.process_count():
    raise ValueError(f"config.train.batch_size={global_batch_size} must be "
                     f"divisible by the {jax.process_count()} processes.")
  return global_batch_size // jax.process_count()
