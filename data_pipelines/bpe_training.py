"""Trains a GPT-2 byte-level BPE vocabulary, written as one `tokenizer.json`.

GPT-2's setup: its regex splits the text (no space added in front), the 256
byte symbols are the initial alphabet (so any text is encodable), and
`<|endoftext|>` is the one special token, id 0; the byte symbols and then the
merged pieces, most frequent pair first, follow. The file loads with
`load_tokenizer('bpe', path)` (data_pipelines/tokenizers.py). The command
line is `python -m data_pipelines.build_vocab --kind=bpe`.

Training is deterministic: the same text and seed give the same file, byte
for byte, in any process and whatever the order of the lines (the trainer
breaks ties between equally frequent pairs by their symbols' ids).
"""

import json
import os
import random
from typing import Iterable, Iterator, Sequence

from data_pipelines.sources import DecodeReport
# The SentencePiece trainer's helpers, so both write their files alike.
from data_pipelines.spm_training import (corpus_lines, describe_files,
                                         write_atomically)
from data_pipelines.tokenizers import EOT_TOKEN, byte_level_bpe_json, gfile
from lm_jax.errors import InputError

MAX_SENTENCES = 2_000_000
# The byte symbols and <|endoftext|>: a vocabulary holds these before any
# merge.
BASE_VOCAB_SIZE = 256 + 1
# A pair seen only once is noise, not a piece worth a vocabulary entry.
_MIN_PAIR_COUNT = 2
# Lines handed to the trainer at a time (it reads batches faster).
_BATCH_LINES = 1000


def train_bpe(files: Sequence[str],
              output_path: str,
              vocab_size: int,
              *,
              max_sentences: int = MAX_SENTENCES,
              seed: int = 0,
              decode_errors: str = 'strict',
              report: DecodeReport | None = None) -> str:
  """Trains a byte-level BPE vocabulary on text files and writes it.

  Args:
    files: `.txt` or `.txt.gz` files, one sentence or paragraph per line;
      blank lines (document breaks) are skipped.
    output_path: where the `tokenizer.json` goes; must end in `.json`.
    vocab_size: the target size, `<|endoftext|>` and the 256 byte symbols
      included. A small corpus may yield fewer entries rather than failing:
      training stops when no pair of symbols occurs twice.
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
  _check_arguments(output_path, vocab_size, max_sentences)
  lines = corpus_lines(files, output_path, decode_errors, report)
  return _train(lines, describe_files(files), output_path, vocab_size,
                max_sentences, seed)


def train_bpe_on_lines(lines: Iterable[str],
                       output_path: str,
                       vocab_size: int,
                       *,
                       source: str,
                       max_sentences: int = MAX_SENTENCES,
                       seed: int = 0) -> str:
  """Trains a byte-level BPE vocabulary on lines of text and writes it.

  As `train_bpe`, for text that is not in files (a TFDS dataset). All of
  `lines` is read (`max_sentences` of them sampled), so bound a huge stream
  first. `source` names the text in error messages.
  """
  _check_arguments(output_path, vocab_size, max_sentences)
  return _train(lines, source, output_path, vocab_size, max_sentences, seed)


def _check_arguments(output_path: str, vocab_size: int,
                     max_sentences: int) -> None:
  if not output_path.endswith('.json'):
    raise InputError(f'output path {output_path} must end in .json')
  if vocab_size <= BASE_VOCAB_SIZE:
    raise InputError(
        f'vocab size {vocab_size} for {output_path} must exceed the 256 byte '
        f'symbols and {EOT_TOKEN} ({BASE_VOCAB_SIZE})')
  if max_sentences < 1:
    raise InputError(f'max sentences {max_sentences} for {output_path} must '
                     'be at least 1')


def _sample(lines: Iterable[str], size: int,
            seed: int) -> tuple[list[str], int]:
  """A uniform sample of at most `size` of the non-blank lines (stripped,
  as the pipeline encodes them), and how many such lines there were.

  Reservoir sampling: one pass, and only the sample is held in memory.
  """
  rng = random.Random(seed)
  sample, count = [], 0
  for line in lines:
    line = line.strip()
    if not line:
      continue
    count += 1
    if len(sample) < size:
      sample.append(line)
    else:
      slot = rng.randrange(count)
      if slot < size:
        sample[slot] = line
  return sample, count


def _batches(lines: list[str]) -> Iterator[list[str]]:
  for start in range(0, len(lines), _BATCH_LINES):
    yield lines[start:start + _BATCH_LINES]


def _train(lines: Iterable[str], source: str, output_path: str,
           vocab_size: int, max_sentences: int, seed: int) -> str:
  """Trains on `lines` (named `source` in errors) and writes the file."""
  import tokenizers as hf  # pylint: disable=g-import-not-at-top
  # Read everything first, so that a bad file fails before training starts.
  sample, count = _sample(lines, max_sentences, seed)
  if not count:
    raise InputError(f'no text lines in {source}')
  byte_level = hf.pre_tokenizers.ByteLevel(add_prefix_space=False,
                                           use_regex=True)
  tokenizer = hf.Tokenizer(hf.models.BPE())
  tokenizer.pre_tokenizer = byte_level
  tokenizer.decoder = hf.decoders.ByteLevel()
  trainer = hf.trainers.BpeTrainer(
      vocab_size=vocab_size,
      min_frequency=_MIN_PAIR_COUNT,
      special_tokens=[EOT_TOKEN],
      initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(),
      show_progress=False)
  try:
    tokenizer.train_from_iterator(_batches(sample), trainer=trainer,
                                  length=len(sample))
  except Exception as e:  # The bindings raise their own Exception.
    raise InputError(f'BPE training for {output_path} failed: '
                     f'{" ".join(str(e).split())}') from e
  # Rewritten in the project's own form, whatever the `tokenizers` version.
  model = json.loads(tokenizer.to_str())['model']
  merges = [m.split(' ') if isinstance(m, str) else m
            for m in model['merges']]
  text = byte_level_bpe_json(model['vocab'], merges)

  directory = os.path.dirname(output_path)
  if directory:
    gfile().makedirs(directory)
  write_atomically(output_path, text.encode('utf-8'))
  return output_path
