"""What a config costs before it runs: parameters and state bytes.

  python -m lm_jax.plan --config=configs/gpt3.py:175B [--devices=256]

Builds the run's abstract train state with `training.build` (shapes only:
nothing is allocated, so the largest configs plan on a laptop) and prints
the parameter count by top-level part, the bytes of parameters and optimizer
state, and their share per device when FSDP splits them over `--devices`.
The vocabulary size is data.vocab_size (what a trained vocabulary is asked
for). Activations are not counted: they depend on batch, remat and the
compiler.
"""
import jax
from absl import app, flags
from ml_collections import config_flags

from lm_jax import sharding, training
from lm_jax.cli import fail, loaded_config, parse_flags
from lm_jax.errors import InputError
from lm_jax.objectives import get_objective

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file[:variant].',
                                          lock_config=True)
_DEVICES = flags.DEFINE_integer('devices', 0, 'Devices to split the state '
                                'over (FSDP); 0: none.')
flags.mark_flags_as_required(['config'])


def plan(config) -> dict:
  """{'params', 'params_by_part', 'param_bytes', 'optimizer_bytes'}."""
  objective = get_objective(config.objective.name)
  objective.check(config)
  config = config.copy_and_resolve_references()
  with config.unlocked():  # one device: the shapes do not depend on the mesh
    config.mesh.data, config.mesh.fsdp, config.mesh.tensor = 1, 1, 1
  mesh = sharding.make_mesh(config.mesh, devices=jax.devices()[:1])
  rules = sharding.rules(config.mesh)
  with sharding.use(mesh, rules):
    parts = training.build(config, objective, config.data.vocab_size, mesh,
                           rules)
  nbytes = lambda tree: sum(x.size * x.dtype.itemsize
                            for x in jax.tree.leaves(tree))
  params = parts.abstract_state.params
  return {
      'params': parts.num_params,
      'params_by_part': {name: sum(x.size for x in jax.tree.leaves(tree))
                         for name, tree in params.items()},
      'param_bytes': nbytes(params),
      'optimizer_bytes': nbytes(parts.abstract_state.opt_state),
  }


def _gib(n: float) -> str:
  return f'{n / 2**30:,.2f} GiB'


def main(argv):
  del argv
  config = loaded_config(_CONFIG)
  try:
    figures = plan(config)
  except InputError as e:
    fail(str(e))
  print(f'parameters: {figures["params"]:,}')
  for name, count in figures['params_by_part'].items():
    print(f'  {name}: {count:,}')
  state = figures['param_bytes'] + figures['optimizer_bytes']
  print(f'parameters: {_gib(figures["param_bytes"])}, optimizer state: '
        f'{_gib(figures["optimizer_bytes"])}, together {_gib(state)}')
  if _DEVICES.value:
    print(f'per device, split over {_DEVICES.value}: '
          f'{_gib(state / _DEVICES.value)}')


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
