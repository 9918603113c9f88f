"""Pretraining entry point.

  python -m lm_jax.train --config=configs/electra_small.py[:variant] \
      --workdir=runs/NAME [--config.train.num_steps=...]

Re-running with the same workdir resumes from its latest checkpoint. Bad input
(a config key that doesn't exist, a missing file, sizes that don't fit the
mesh) ends with one `error: ...` line and exit status 2.
"""
from absl import app, flags
from ml_collections import config_flags

from data_pipelines.cache import cache_root
from lm_jax import trainer
from lm_jax.cli import fail, loaded_config, parse_flags, start_jax
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
  config = loaded_config(_CONFIG)
  start_jax(_DISTRIBUTED.value, cache_root(config.data.cache_dir))
  try:
    trainer.run(config, _WORKDIR.value)
  except InputError as e:
    fail(str(e))


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
