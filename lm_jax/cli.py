"""What every entry point (train, finetune, evaluate) shares: absl flag
parsing, loading the config file, starting JAX, and bad input reported as one
`error:` line with exit status 2."""
import os
import sys

from absl import flags, logging


def fail(message: str):
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


def last_line(error: Exception) -> str:
  lines = [l.strip() for l in str(error).splitlines() if l.strip()]
  return lines[-1] if lines else type(error).__name__


def parse_flags(argv):
  """absl's flag parsing, with one-line errors instead of tracebacks."""
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except
    message = last_line(e)
    if isinstance(e, (AttributeError, KeyError)):  # a locked ConfigDict's miss
      key = message.strip('"\'')
      culprits = [a.split('=')[0] for a in argv[1:]
                  if a.startswith('--config.') and key in a.split('=')[0]]
      message = (f'unknown config key in {culprits[0]}' if culprits
                 else f'unknown config key {key!r}')
    fail(message)


def loaded_config(config_flag):
  """The --config file's ConfigDict, or one error line if it cannot load
  (the file is read on first access)."""
  try:
    config = config_flag.value
    config.keys()  # pylint: disable=pointless-statement
  except Exception as e:  # pylint: disable=broad-except
    fail(f'cannot load --config: {last_line(e)}')
  return config


def start_jax(distributed: bool, cache_dir: str) -> None:
  """Quiet libraries, join the other hosts, and keep compiled steps in the
  cache so that a restart skips compiling."""
  # The progress lines are the output; libraries' INFO chatter is not.
  logging.set_verbosity(logging.WARNING)
  import jax  # pylint: disable=g-import-not-at-top
  if distributed:
    jax.distributed.initialize()
  jax.config.update('jax_compilation_cache_dir', os.path.join(cache_dir, 'xla'))
