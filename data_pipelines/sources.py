"""Where pretraining text comes from: text files or a TFDS dataset.

A *document* is a list of lines (sentences or paragraphs). In text files a
blank line ends a document; `.gz` files are read decompressed; paths may be
local or anything `tf.io.gfile` opens (gs://...). Each host reads only its own
shard: whole files when there are at least as many files as hosts, otherwise
every `process_count`-th document.
"""
import gzip
from typing import Iterator, Sequence

from data_pipelines.tf_cpu import tf as tf_module
from lm_jax.errors import InputError

Document = list[str]


def list_files(patterns: str, what: str = 'data.train_files') -> list[str]:
  """Expands comma-separated globs; every pattern must match a file.

  `what` names the setting in error messages.
  """
  tf = tf_module()
  files = []
  for pattern in (p.strip() for p in patterns.split(',')):
    if not pattern:
      continue
    matched = sorted(tf.io.gfile.glob(pattern))
    if not matched:
      raise InputError(f'no file matches {what} pattern {pattern!r}')
    files.extend(f for f in matched if f not in files)
  if not files:
    raise InputError(f'{what} names no files')
  return files


def read_lines(path: str) -> Iterator[str]:
  """Lines of a text file, gzip-aware, without trailing newlines."""
  tf = tf_module()
  try:
    raw = tf.io.gfile.GFile(path, 'rb')
    stream = gzip.GzipFile(fileobj=raw) if path.endswith('.gz') else raw
    with raw, stream:
      for number, line in enumerate(stream, 1):
        try:
          text = line.decode('utf-8').rstrip('\r\n')
          yield text.lstrip('\ufeff') if number == 1 else text
        except UnicodeDecodeError as e:
          raise InputError(f'{path}:{number}: not UTF-8 text ({e.reason})') from None
  except (OSError, EOFError, tf.errors.OpError) as e:
    raise InputError(f'cannot read {path}: {e}') from None


def text_file_documents(files: Sequence[str]) -> Iterator[Document]:
  """Documents of the files, in order; a blank line ends a document."""
  for path in files:
    document = []
    for line in read_lines(path):
      line = line.strip()
      if line:
        document.append(line)
      elif document:
        yield document
        document = []
    if document:
      yield document


def tfds_documents(name: str, split: str, text_key: str,
                   process_index: int, process_count: int,
                   data_dir: str | None = None) -> Iterator[Document]:
  """Documents of a TFDS dataset: one example each, split into lines."""
  tf_module()
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  host_split = tfds.even_splits(split, n=process_count)[process_index]
  try:
    ds = tfds.load(name, split=host_split, data_dir=data_dir or None,
                   shuffle_files=False)
  except Exception as e:  # tfds raises many types; all mean "can't load".
    raise InputError(f'cannot load TFDS dataset {name!r} split {split!r}: '
                     f'{str(e).splitlines()[0]}') from None
  for example in tfds.as_numpy(ds):
    if text_key not in example:
      raise InputError(f'TFDS dataset {name!r} has no feature {text_key!r}; '
                       f'it has {sorted(example)}')
    text = example[text_key].decode('utf-8')
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    if lines:
      yield lines


def host_documents(data_cfg, process_index: int, process_count: int
                   ) -> tuple[Iterator[Document], list[str]]:
  """This host's documents and a description of where they come from."""
  if data_cfg.tfds_name:
    return (tfds_documents(data_cfg.tfds_name, data_cfg.tfds_split,
                           data_cfg.tfds_text_key, process_index, process_count,
                           data_cfg.tfds_data_dir),
            [f'tfds:{data_cfg.tfds_name}/{data_cfg.tfds_split}'])
  files = list_files(data_cfg.train_files)
  if len(files) >= process_count:
    mine = files[process_index::process_count]
    return text_file_documents(mine), mine
  documents = (d for i, d in enumerate(text_file_documents(files))
               if i % process_count == process_index)
  return documents, files
