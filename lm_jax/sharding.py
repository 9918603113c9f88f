"""The device mesh and how arrays are laid out on it.

Mesh axes are ('data', 'fsdp', 'tensor'), of type Auto so linen's logical
constraints act as hints. Parameters name their logical axes in the model;
`config.mesh.rules` maps those names to mesh axes, so FSDP versus tensor
parallelism is a change of mesh sizes, not of code.
"""
import contextlib
import math

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from lm_jax.errors import InputError

AXES = ('data', 'fsdp', 'tensor')
BATCH_AXES = ('data', 'fsdp')


def mesh_shape(mesh_cfg, num_devices: int) -> tuple[int, ...]:
  """Axis sizes, with one -1 filled from the device count."""
  sizes = [mesh_cfg[a] for a in AXES]
  if sizes.count(-1) > 1:
    raise InputError(f'at most one mesh axis may be -1, got {dict(zip(AXES, sizes))}')
  if any(s == 0 or s < -1 for s in sizes):
    raise InputError(f'mesh sizes must be positive or -1, got {dict(zip(AXES, sizes))}')
  known = math.prod(s for s in sizes if s != -1)
  if -1 in sizes:
    if num_devices % known:
      raise InputError(f'mesh {dict(zip(AXES, sizes))} does not divide the '
                       f'{num_devices} devices')
    sizes[sizes.index(-1)] = num_devices // known
  if math.prod(sizes) != num_devices:
    raise InputError(f'mesh {dict(zip(AXES, sizes))} needs {math.prod(sizes)} '
                     f'devices, but {num_devices} are available')
  return tuple(sizes)


def make_mesh(mesh_cfg, devices=None) -> Mesh:
  devices = jax.devices() if devices is None else devices
  shape = mesh_shape(mesh_cfg, len(devices))
  return jax.make_mesh(shape, AXES, axis_types=(AxisType.Auto,) * len(AXES),
                       devices=devices)


def rules(mesh_cfg) -> tuple:
  return tuple((name, tuple(axes) if isinstance(axes, list) else axes)
               for name, axes in mesh_cfg.rules)


@contextlib.contextmanager
def use(mesh: Mesh, logical_rules):
  """The mesh and logical-axis rules in effect while tracing and running."""
  with jax.set_mesh(mesh), nn.logical_axis_rules(logical_rules):
    yield


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """The leading (batch) dimension over ('data', 'fsdp'), the rest whole."""
  return NamedSharding(mesh, P(BATCH_AXES))


def check_batch(batch_size: int, mesh: Mesh, process_count: int) -> None:
  split = math.prod(mesh.shape[a] for a in BATCH_AXES)
  if batch_size % split:
    raise InputError(f'data.batch_size {batch_size} is not divisible by the '
                     f'{split} batch shards of mesh {dict(mesh.shape)}')
  if batch_size % process_count:
    raise InputError(f'data.batch_size {batch_size} is not divisible by the '
                     f'{process_count} hosts')


def state_shardings(abstract_boxed, mesh: Mesh, logical_rules):
  """NamedShardings for a tree whose parameters carry logical names."""
  specs = nn.get_partition_spec(abstract_boxed)
  return nn.logical_to_mesh_sharding(specs, mesh, logical_rules)


def fit_to_shapes(abstract, shardings) -> tuple[object, list[str]]:
  """Replicates any dimension that does not split evenly over its mesh axes.

  A 1-head generator cannot split its heads over tensor=2, nor a 20,754-piece
  vocabulary over 4 shards; such a dimension stays whole (and is reported)
  instead of failing the run.

  Returns:
    The adjusted shardings and one note per replicated dimension.
  """
  notes = []

  def fit(path, leaf, sharding):
    spec = list(sharding.spec) + [None] * (leaf.ndim - len(sharding.spec))
    for dim, axes in enumerate(spec):
      if axes is None:
        continue
      names = axes if isinstance(axes, tuple) else (axes,)
      parts = math.prod(sharding.mesh.shape[a] for a in names)
      if leaf.shape[dim] % parts:
        spec[dim] = None
        notes.append(f'{jax.tree_util.keystr(path, simple=True, separator="/")}'
                     f' dim {dim} (size {leaf.shape[dim]}) is not split over '
                     f'{names} ({parts} shards)')
    return NamedSharding(sharding.mesh, P(*spec))

  fitted = jax.tree_util.tree_map_with_path(fit, abstract, shardings)
  return fitted, notes


def global_batch(local_batch: dict, sharding: NamedSharding) -> dict:
  """This host's rows -> global arrays laid out over the whole mesh."""
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in local_batch.items()}
