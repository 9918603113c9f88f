"""Pretraining entry point.

  python -m lm_jax.train --config=configs/electra_small.py[:variant] \
      --workdir=runs/NAME [--config.train.num_steps=...]

Re-running with the same workdir resumes from its latest checkpoint.
"""
import sys

from absl import app, flags
from ml_collections import config_flags

from lm_jax import trainer
from lm_jax.errors import InputError

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file[:variant].',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Checkpoints, metrics, events.')
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', False, 'Call jax.distributed.initialize() first (multi-host, '
    'e.g. every worker of a TPU pod slice).')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  del argv
  import jax  # pylint: disable=g-import-not-at-top
  if _DISTRIBUTED.value:
    jax.distributed.initialize()
  try:
    trainer.run(_CONFIG.value, _WORKDIR.value)
  except InputError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  app.run(main)
