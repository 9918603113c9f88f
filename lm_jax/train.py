"""Pretraining entry point.

  python -m lm_jax.train --config=configs/electra_small.py[:variant] \
      --workdir=runs/NAME [--config.train.num_steps=...]

Re-running with the same workdir resumes from its latest checkpoint. Bad input
(a config key that doesn't exist, a missing file, sizes that don't fit the
mesh) ends with one `error: ...` line and exit status 2.
"""
import os

from absl import app, flags, logging
from ml_collections import config_flags

from data_pipelines.cache import cache_root
from lm_jax import trainer
from lm_jax.cli import fail, last_line, parse_flags
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
  try:
    config = _CONFIG.value
    config.train  # pylint: disable=pointless-statement  (a file that failed to load raises here)
  except Exception as e:  # pylint: disable=broad-except
    fail(f'cannot load --config: {last_line(e)}')
  # The progress lines are the output; libraries' INFO chatter is not.
  logging.set_verbosity(logging.WARNING)
  import jax  # pylint: disable=g-import-not-at-top
  if _DISTRIBUTED.value:
    jax.distributed.initialize()
  # Compiled steps persist beside the data cache: a restart skips compiling.
  jax.config.update('jax_compilation_cache_dir',
                    os.path.join(cache_root(config.data.cache_dir), 'xla'))
  try:
    trainer.run(config, _WORKDIR.value)
  except InputError as e:
    fail(str(e))


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
