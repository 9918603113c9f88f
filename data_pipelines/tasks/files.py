"""Reading a task's files: local or any `tf.io.gfile` path, `.gz` or plain,
UTF-8 with an optional BOM (GLUE's MRPC starts with one); writing results so
that a reader never sees half a file."""
import gzip
import json
import os

from lm_jax.errors import InputError


def find(data_dir: str, names: tuple[str, ...], what: str) -> str:
  """The first of `names` (each also tried with `.gz`) present in data_dir."""
  path = find_optional(data_dir, names)
  if path is not None:
    return path
  raise InputError(f'{data_dir} has no {what} file (looked for '
                   f'{", ".join(names)}, also gzipped)')


def find_optional(data_dir: str, names: tuple[str, ...]) -> str | None:
  """`find`, or None when no such file is there (an optional split)."""
  for name in names:
    for candidate in (name, name + '.gz'):
      path = os.path.join(data_dir, candidate)
      if _exists(path):
        return path
  return None


def read_lines(path: str) -> list[str]:
  """The file's lines without their line endings; InputError if it is
  missing, undecodable or empty."""
  text = read_text(path)
  lines = text.split('\n')
  if lines and lines[-1] == '':
    lines.pop()
  return [line[:-1] if line.endswith('\r') else line for line in lines]


def read_text(path: str) -> str:
  if not _exists(path):
    raise InputError(f'{path} does not exist')
  try:
    data = _read_bytes(path)
    if path.endswith('.gz'):
      data = gzip.decompress(data)
  except (OSError, EOFError) as e:
    raise InputError(f'cannot read {path}: {e}') from e
  try:
    text = data.decode('utf-8-sig')
  except UnicodeDecodeError as e:
    line = data[:e.start].count(b'\n') + 1
    raise InputError(f'{path}:{line}: not UTF-8 (byte {e.start})') from e
  if not text.strip():
    raise InputError(f'{path} is empty')
  return text


def _exists(path: str) -> bool:
  if '://' in path:
    from data_pipelines import tf_cpu  # pylint: disable=g-import-not-at-top
    return tf_cpu.tf().io.gfile.exists(path)
  return os.path.isfile(path)


def _read_bytes(path: str) -> bytes:
  if '://' in path:
    from data_pipelines import tf_cpu  # pylint: disable=g-import-not-at-top
    with tf_cpu.tf().io.gfile.GFile(path, 'rb') as f:
      return f.read()
  with open(path, 'rb') as f:
    return f.read()


def write_text(path: str, text: str) -> None:
  """Writes aside, then renames over: a reader never sees half a file."""
  tmp = f'{path}.tmp{os.getpid()}'
  with open(tmp, 'w', encoding='utf-8') as f:
    f.write(text)
  os.replace(tmp, path)


def write_json(path: str, value) -> None:
  write_text(path, json.dumps(value, ensure_ascii=False, indent=1))
