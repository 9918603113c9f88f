"""Trains a SentencePiece vocabulary that holds the special tokens BERT needs.

The model gets [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4, so it loads with
`tokenizers.SentencePieceTokenizer`. Usage:

  python -m data_pipelines.build_vocab --input='corpus/*.txt.gz' \
      --output=vocab/spm.model --vocab_size=30522
"""

import sys
from typing import Sequence

from absl import app
from absl import flags

from data_pipelines.sources import DECODE_ERRORS, DecodeReport, list_files
from data_pipelines.spm_training import (MAX_SENTENCES, MODEL_TYPES,
                                         train_sentencepiece)
from lm_jax.errors import InputError

_INPUT = flags.DEFINE_string(
    'input', None, 'Comma-separated globs of .txt or .txt.gz files.')
_OUTPUT = flags.DEFINE_string(
    'output', None, 'Path of the model to write; must end in .model.')
_VOCAB_SIZE = flags.DEFINE_integer('vocab_size', 30522, 'Target vocab size.')
_MODEL_TYPE = flags.DEFINE_enum('model_type', 'unigram', MODEL_TYPES,
                                'SentencePiece model type.')
_MAX_SENTENCES = flags.DEFINE_integer(
    'max_sentences', MAX_SENTENCES,
    'Lines sampled from the input for training.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed for sampling the lines.')
_DECODE_ERRORS = flags.DEFINE_enum(
    'decode_errors', 'strict', DECODE_ERRORS,
    'A line that is not UTF-8: strict (error), replace (U+FFFD for its bad '
    'bytes) or skip_line.')


def main(argv: Sequence[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  report = DecodeReport(_DECODE_ERRORS.value)
  try:
    if not _INPUT.value or not _OUTPUT.value:
      raise InputError('--input and --output are required')
    path = train_sentencepiece(
        list_files(_INPUT.value, '--input'), _OUTPUT.value, _VOCAB_SIZE.value,
        model_type=_MODEL_TYPE.value, max_sentences=_MAX_SENTENCES.value,
        seed=_SEED.value, decode_errors=_DECODE_ERRORS.value, report=report)
  except InputError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  if report.summary():
    print(f'warning: {report.summary()}', file=sys.stderr)
  print(f'wrote {path}')
  return 0


if __name__ == '__main__':
  app.run(main)
