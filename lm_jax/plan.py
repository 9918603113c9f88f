"""What a config costs before it runs: parameters and state bytes.

  python -m lm_jax.plan --config=configs/gpt3.py:175B [--devices=256]

Prints the parameter count by top-level part, the bytes of parameters and
optimizer state, and their share per device when FSDP splits them over
`--devices` (`lm_jax/planning.py`: shapes only, nothing is allocated).
"""
from absl import app, flags, logging
from ml_collections import config_flags

from lm_jax.cli import fail, loaded_config, parse_flags
from lm_jax.errors import InputError
from lm_jax.planning import plan

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file[:variant].',
                                          lock_config=True)
_DEVICES = flags.DEFINE_integer('devices', 0, 'Devices to split the state '
                                'over (FSDP); 0: none.')
flags.mark_flags_as_required(['config'])


def _gib(n: float) -> str:
  return f'{n / 2**30:,.2f} GiB'


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
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
