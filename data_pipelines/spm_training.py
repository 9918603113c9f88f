"""Trains a SentencePiece vocabulary that holds the special tokens BERT needs.

The model gets [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4, so it loads with
`tokenizers.SentencePieceTokenizer`. The command line is
`python -m data_pipelines.build_vocab`.
"""

import os
import re
import uuid
from typing import Iterable, Iterator, Sequence

from data_pipelines.sources import (DecodeReport, check_decode_errors,
                                    read_lines)
from data_pipelines.tokenizers import SPECIAL_TOKENS
from data_pipelines.tokenizers import gfile
from lm_jax.errors import InputError

MODEL_TYPES = ('unigram', 'bpe', 'char', 'word')
MAX_SENTENCES = 2_000_000
# SentencePiece silently drops lines longer than this (in UTF-8 bytes), so
# longer ones are fed in pieces (see `_split_long_line`).
_MAX_LINE_BYTES = 1 << 14
# The last ASCII whitespace: cutting there never splits a character.
_LAST_SPACE = re.compile(rb'.*[ \t\v\f]', re.DOTALL)


def describe_files(paths: Sequence[str]) -> str:
  """Names a few paths, so messages stay one short line for huge globs."""
  shown = ', '.join(paths[:3])
  return shown if len(paths) <= 3 else f'{shown} and {len(paths) - 3} more'


def corpus_lines(files: Sequence[str], output_path: str, decode_errors: str,
                 report: DecodeReport | None) -> Iterator[str]:
  """The lines of text files (gzipped if `.gz`) a vocabulary is trained on,
  once the files are checked: InputError for a bad `decode_errors`, no
  files, or missing ones."""
  check_decode_errors(decode_errors)
  if not files:
    raise InputError(f'no input files given for {output_path}')
  missing = [p for p in files if not gfile().exists(p)]
  if missing:
    raise InputError(f'input file(s) not found: {describe_files(missing)}')
  return (line for path in files
          for line in read_lines(path, decode_errors, report))


def _split_long_line(line: str, limit: int = _MAX_LINE_BYTES) -> Iterator[str]:
  """Pieces of at most `limit` UTF-8 bytes, cut at whitespace where there is
  some (else between characters), so that no text is dropped for length."""
  if len(line) * 4 <= limit:  # No character takes more than 4 bytes.
    yield line
    return
  data = line.encode('utf-8')
  while len(data) > limit:
    space = _LAST_SPACE.match(data, 0, limit + 1)
    cut = space.end() - 1 if space and space.end() > 1 else limit
    while data[cut] & 0xC0 == 0x80:  # Not inside a character.
      cut -= 1
    piece, data = data[:cut].strip(), data[cut:].strip()
    if piece:
      yield piece.decode('utf-8')
  if data:
    yield data.decode('utf-8')


class _SentenceFeed:
  """Lines for SentencePiece's `sentence_iterator`, counting what it read.

  An exception raised inside the iterator reaches the caller only as the
  trainer's RuntimeError, so the original is kept to be re-raised.
  """

  def __init__(self, lines: Iterable[str]):
    self._lines = (piece for line in lines if line.strip()
                   for piece in _split_long_line(line.strip()))
    self.count = 0
    self.error: InputError | None = None

  def __iter__(self) -> '_SentenceFeed':
    return self

  def __next__(self) -> str:
    try:
      line = next(self._lines)
    except InputError as e:
      self.error = e
      raise
    self.count += 1
    return line


class _BytesSink:
  """A `model_writer` for the trainer: keeps the serialized model in memory."""

  def __init__(self):
    self.data = b''

  def write(self, data: bytes) -> None:
    self.data = data


def write_atomically(path: str, data: bytes) -> None:
  """Writes to a temporary name beside `path`, then renames it into place.

  A reader therefore sees either the old file or the complete new one, never
  a half-written file left by an interrupted build.
  """
  gf = gfile()
  tmp = f'{path}.tmp-{uuid.uuid4().hex}'
  try:
    with gf.GFile(tmp, 'wb') as f:
      f.write(data)
    gf.rename(tmp, path, overwrite=True)
  except BaseException:
    if gf.exists(tmp):
      gf.remove(tmp)
    raise


def _vocab_text(model: bytes) -> str:
  """The `.vocab` listing SentencePiece writes: piece<TAB>score per line."""
  import sentencepiece as spm  # pylint: disable=g-import-not-at-top
  sp = spm.SentencePieceProcessor()
  sp.LoadFromSerializedProto(model)
  return ''.join(f'{sp.id_to_piece(i)}\t{sp.get_score(i):g}\n'
                 for i in range(sp.get_piece_size()))


def train_sentencepiece(input_files: Sequence[str],
                        output_path: str,
                        vocab_size: int,
                        *,
                        model_type: str = 'unigram',
                        max_sentences: int = MAX_SENTENCES,
                        seed: int = 0,
                        decode_errors: str = 'strict',
                        report: DecodeReport | None = None) -> str:
  """Trains a SentencePiece model on text files and writes it.

  Args:
    input_files: `.txt` or `.txt.gz` files, one sentence or paragraph per
      line; blank lines (document breaks) are skipped.
    output_path: where the model goes; must end in `.model`. The `.vocab`
      listing is written beside it.
    vocab_size: the target size. A small corpus may yield fewer pieces
      rather than failing.
    model_type: 'unigram', 'bpe', 'char' or 'word'.
    max_sentences: how many lines to sample (uniformly) for training.
    seed: seeds the sampling, so rebuilding gives the same sample.
    decode_errors: a line that is not UTF-8 is an InputError naming it
      ('strict'), gets U+FFFD for its bad bytes ('replace') or is left out
      ('skip_line').
    report: if given, counts the lines replaced or left out.

  Returns:
    `output_path`.

  Raises:
    InputError: missing or unreadable inputs, no text, or bad arguments.
  """
  _check_arguments(output_path, vocab_size, model_type)
  lines = corpus_lines(input_files, output_path, decode_errors, report)
  return _train(lines, describe_files(input_files), output_path, vocab_size, model_type,
                max_sentences, seed)


def train_sentencepiece_on_lines(lines: Iterable[str],
                                 output_path: str,
                                 vocab_size: int,
                                 *,
                                 source: str,
                                 model_type: str = 'unigram',
                                 max_sentences: int = MAX_SENTENCES,
                                 seed: int = 0) -> str:
  """Trains a SentencePiece model on lines of text and writes it.

  As `train_sentencepiece`, for text that is not in files (a TFDS dataset).
  All of `lines` is read (`max_sentences` of them sampled), so bound a huge
  stream first. `source` names the text in error messages.
  """
  _check_arguments(output_path, vocab_size, model_type)
  return _train(lines, source, output_path, vocab_size, model_type,
                max_sentences, seed)


def _check_arguments(output_path: str, vocab_size: int,
                     model_type: str) -> None:
  if not output_path.endswith('.model'):
    raise InputError(f'output path {output_path} must end in .model')
  if model_type not in MODEL_TYPES:
    raise InputError(f'unknown model type {model_type!r} for {output_path} '
                     f'(expected one of {", ".join(MODEL_TYPES)})')
  if vocab_size <= len(SPECIAL_TOKENS):
    raise InputError(f'vocab size {vocab_size} for {output_path} must exceed '
                     f'the {len(SPECIAL_TOKENS)} special tokens')


def _train(lines: Iterable[str], source: str, output_path: str,
           vocab_size: int, model_type: str, max_sentences: int,
           seed: int) -> str:
  """Trains on `lines` (named `source` in errors) and writes the model."""
  import sentencepiece as spm  # pylint: disable=g-import-not-at-top
  if hasattr(spm, 'set_random_generator_seed'):
    spm.set_random_generator_seed(seed)
  # Otherwise (SentencePiece < 0.1.99) the input sample is not reproducible.
  feed = _SentenceFeed(lines)
  sink = _BytesSink()
  try:
    # minloglevel rather than `logstream`, which needs sys.stderr to have a
    # file descriptor (not so under pytest's capture or in notebooks).
    spm.SentencePieceTrainer.Train(
        sentence_iterator=feed,
        model_writer=sink,
        minloglevel=2,
        model_type=model_type,
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=0.9999,
        input_sentence_size=max_sentences,
        shuffle_input_sentence=True,
        max_sentence_length=_MAX_LINE_BYTES,
        num_threads=os.cpu_count() or 1,
        pad_id=0,
        pad_piece=SPECIAL_TOKENS[0],
        unk_id=1,
        unk_piece=SPECIAL_TOKENS[1],
        bos_id=-1,
        eos_id=-1,
        control_symbols=list(SPECIAL_TOKENS[2:]),
    )
  except RuntimeError as e:
    if feed.error is not None:
      raise feed.error from None
    if feed.count == 0:
      raise InputError(f'no text lines in {source}') from None
    message = ' '.join(str(e).split())
    raise InputError(
        f'SentencePiece training for {output_path} failed: {message}') from e
  if feed.count == 0 or not sink.data:
    raise InputError(f'no text lines in {source}')

  directory = os.path.dirname(output_path)
  if directory:
    gfile().makedirs(directory)
  # The model goes last: once it exists, its .vocab is complete too.
  vocab_path = output_path[:-len('.model')] + '.vocab'
  write_atomically(vocab_path, _vocab_text(sink.data).encode('utf-8'))
  write_atomically(output_path, sink.data)
  return output_path
