"""What every entry point (train, evaluate) shares: absl flag parsing and
bad input reported as one `error:` line with exit status 2."""
import sys

from absl import flags


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
