"""Where pretraining text comes from: text files or a TFDS dataset.

A *document* is a list of lines (sentences or paragraphs). In text files a
blank line ends a document; `.gz` files are read decompressed; paths may be
local or anything `tf.io.gfile` opens (gs://...). Each host reads only its own
shard: whole files when there are at least as many files as hosts, otherwise
every `process_count`-th document.

As `data.decode_errors` says, a line that is not UTF-8 is an error naming it,
gets U+FFFD for its bad bytes, or is dropped; a `DecodeReport` counts the lines
replaced or dropped, so that the run can say how many there were.
"""
import gzip
from typing import Iterator, Sequence

from data_pipelines.tf_cpu import tf as tf_module
from lm_jax.errors import InputError

Document = list[str]
DECODE_ERRORS = ('strict', 'replace', 'skip_line')


class DecodeReport:
  """Counts the lines with undecodable bytes that were replaced or skipped.

  The counters fill in as the documents are read, so they are complete only
  once the documents iterator is exhausted.
  """

  def __init__(self, errors: str = 'strict'):
    check_decode_errors(errors)
    self.errors = errors
    self.bad_lines = 0
    self.first_bad_line = ''  # where the first one is, e.g. 'a.txt:12'

  def add(self, where: str) -> None:
    if not self.bad_lines:
      self.first_bad_line = where
    self.bad_lines += 1

  def summary(self) -> str:
    """E.g. '3 lines with undecodable bytes replaced (first at a.txt:12)';
    '' when there were none."""
    if not self.bad_lines:
      return ''
    lines = 'line' if self.bad_lines == 1 else 'lines'
    done = 'replaced' if self.errors == 'replace' else 'skipped'
    return (f'{self.bad_lines} {lines} with undecodable bytes {done} '
            f'(first at {self.first_bad_line})')


def check_decode_errors(errors: str) -> None:
  """InputError unless `errors` is one of DECODE_ERRORS."""
  if errors not in DECODE_ERRORS:
    raise InputError(f'unknown decode errors mode {errors!r} (expected one of '
                     f'{", ".join(DECODE_ERRORS)})')


def _undecodable(raw: bytes, error: UnicodeDecodeError, where: str,
                 errors: str, report: DecodeReport | None) -> str | None:
  """What becomes of a line that is not UTF-8, per `errors`: an InputError,
  its text with U+FFFD for the bad bytes, or None to skip it."""
  if errors == 'strict':
    raise InputError(f'{where}: not UTF-8 text ({error.reason})') from None
  if report is not None:
    report.add(where)
  return raw.decode('utf-8', 'replace') if errors == 'replace' else None


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


def read_lines(path: str, errors: str = 'strict',
               report: DecodeReport | None = None) -> Iterator[str]:
  """Lines of a text file, gzip-aware, without trailing newlines.

  `errors` (one of DECODE_ERRORS) says what becomes of a line that is not
  UTF-8; `report` counts those replaced or skipped.
  """
  check_decode_errors(errors)
  tf = tf_module()
  try:
    raw = tf.io.gfile.GFile(path, 'rb')
    stream = gzip.GzipFile(fileobj=raw) if path.endswith('.gz') else raw
    with raw, stream:
      for number, line in enumerate(stream, 1):
        try:
          text = line.decode('utf-8')
        except UnicodeDecodeError as e:
          text = _undecodable(line, e, f'{path}:{number}', errors, report)
          if text is None:
            continue
        text = text.rstrip('\r\n')
        yield text.lstrip('\ufeff') if number == 1 else text
  except (OSError, EOFError, tf.errors.OpError) as e:
    raise InputError(f'cannot read {path}: {e}') from None


def text_file_documents(files: Sequence[str], errors: str = 'strict',
                        report: DecodeReport | None = None
                        ) -> Iterator[Document]:
  """Documents of the files, in order; a blank line ends a document.

  A line skipped for undecodable bytes does not end its document.
  """
  for path in files:
    document = []
    for line in read_lines(path, errors, report):
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
                   data_dir: str | None = None, errors: str = 'strict',
                   report: DecodeReport | None = None) -> Iterator[Document]:
  """Documents of a TFDS dataset: one example each, split into lines.

  `errors` and `report` treat a line that is not UTF-8 as `read_lines` does.
  """
  check_decode_errors(errors)
  tf_module()
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  host_split = tfds.even_splits(split, n=process_count)[process_index]
  try:
    ds = tfds.load(name, split=host_split, data_dir=data_dir or None,
                   shuffle_files=False)
  except Exception as e:  # tfds raises many types; all mean "can't load".
    raise InputError(f'cannot load TFDS dataset {name!r} split {split!r}: '
                     f'{str(e).splitlines()[0]}') from None
  source = f'tfds:{name}/{split}'
  if process_count > 1:
    source += f' host {process_index} of {process_count}'
  for index, example in enumerate(tfds.as_numpy(ds)):
    if text_key not in example:
      raise InputError(f'TFDS dataset {name!r} has no feature {text_key!r}; '
                       f'it has {sorted(example)}')
    raw = example[text_key]
    try:
      text = raw.decode('utf-8')
    except UnicodeDecodeError:
      text = _decode_lines(raw, f'{source} example {index}', errors, report)
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    if lines:
      yield lines


def _decode_lines(raw: bytes, where: str, errors: str,
                  report: DecodeReport | None) -> str:
  """Text that is not all UTF-8, decoded line by line as `errors` says."""
  lines = []
  for number, line in enumerate(raw.splitlines(), 1):
    try:
      lines.append(line.decode('utf-8'))
    except UnicodeDecodeError as e:
      text = _undecodable(line, e, f'{where} line {number}', errors, report)
      if text is not None:
        lines.append(text)
  return '\n'.join(lines)


def host_documents(data_cfg, process_index: int, process_count: int
                   ) -> tuple[Iterator[Document], list[str], DecodeReport]:
  """This host's documents, a description of where they come from, and the
  report of lines with undecodable bytes (complete once the documents are).
  """
  errors = data_cfg.decode_errors
  report = DecodeReport(errors)
  if data_cfg.tfds_name:
    return (tfds_documents(data_cfg.tfds_name, data_cfg.tfds_split,
                           data_cfg.tfds_text_key, process_index, process_count,
                           data_cfg.tfds_data_dir, errors, report),
            [f'tfds:{data_cfg.tfds_name}/{data_cfg.tfds_split}'], report)
  files = list_files(data_cfg.train_files)
  if len(files) >= process_count:
    mine = files[process_index::process_count]
    return text_file_documents(mine, errors, report), mine, report
  # Every host reads all the files, so each one's report counts them all.
  everything = text_file_documents(files, errors, report)
  documents = (d for i, d in enumerate(everything)
               if i % process_count == process_index)
  return documents, files, report
