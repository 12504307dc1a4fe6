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
  """Builds a mesh from `(name, size)` pairs; one size may be -1 (the rest).

  Sizes that multiply to fewer than the devices there are take the first
  ones (one process only: with several, every device must be in the mesh).
  """
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
  total = int(np.prod(sizes))
  if total > len(devices) or (total < len(devices) and jax.process_count() > 1):
    raise ValueError(f"config.mesh {mesh_spec} needs {total} devices, found "
                     f"{len(devices)}" + (" (with several processes the mesh "
                                          "must hold every device)"
                                          if total < len(devices) else "") + ".")
  devices = devices[:total]
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

  Host p passes rows [p * b, (p + 1) * b) of the global batch (b =
  global_batch / process_count, as the input pipelines slice it); the result
  is one global `jax.Array` per key, in the order one host would have built.
  """
  sharding = batch_sharding(mesh)

  def put(x):
    x = np.asarray(x)
    global_shape = (x.shape[0] * jax.process_count(),) + x.shape[1:]
    _check_rows_of_this_process(sharding, global_shape, x.shape[0])
    return jax.make_array_from_process_local_data(sharding, x, global_shape)

  return jax.tree.map(put, batch)


def _check_rows_of_this_process(sharding: NamedSharding, global_shape,
                                local_rows: int) -> None:
  """Fails unless this process's devices hold rows [p * b, (p + 1) * b).

  `make_array_from_process_local_data` puts the local rows wherever the
  process's devices sit in the mesh; a mesh whose devices are not grouped by
  process would silently reorder the global batch.
  """
  if jax.process_count() == 1:
    return
  rows = [index[0].indices(global_shape[0])[:2] for index in
          sharding.addressable_devices_indices_map(global_shape).values()]
  start, stop = min(r[0] for r in rows), max(r[1] for r in rows)
  first = jax.process_index() * local_rows
  if (start, stop) != (first, first + local_rows):
    raise ValueError(
        f"Process {jax.process_index()}'s devices hold batch rows "
        f"[{start}, {stop}) of {global_shape[0]}, not [{first}, "
        f"{first + local_rows}): the mesh (config.mesh) must list each "
        "process's devices together, in process order.")


def host_copy(tree: Any) -> Any:
  """The whole value of (possibly multi-host) arrays as numpy on this host.

  A collective when several processes run: every process must call it.
  Evaluation then runs on this process's own devices, not in lockstep with
  the other processes.
  """
  if jax.process_count() == 1:
    return jax.device_get(tree)
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return multihost_utils.process_allgather(tree, tiled=True)


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
