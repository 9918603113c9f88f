"""Trains a vocabulary on text files: SentencePiece (the default) or GPT-2's
byte-level BPE.

`--kind=sentencepiece` writes a `.model` (and its `.vocab` listing) whose
vocabulary holds the special tokens BERT needs, [PAD]=0, [UNK]=1, [CLS]=2,
[SEP]=3, [MASK]=4, for BERT-style objectives; `--model_type` picks its
algorithm. `--kind=bpe` writes one `tokenizer.json` of GPT-2's byte-level BPE
with `<|endoftext|>`=0, for causal LMs. Either loads with
`data_pipelines.tokenizers.load_tokenizer(kind, path)`. Usage:

  python -m data_pipelines.build_vocab --input='corpus/*.txt.gz' \
      --output=vocab/spm.model --vocab_size=30522
  python -m data_pipelines.build_vocab --kind=bpe --input='corpus/*.txt.gz' \
      --output=vocab/tokenizer.json --vocab_size=50257
"""

import sys
from typing import Sequence

from absl import app
from absl import flags

from data_pipelines import bpe_training
from data_pipelines.sources import DECODE_ERRORS, DecodeReport, list_files
from data_pipelines.spm_training import (MAX_SENTENCES, MODEL_TYPES,
                                         train_sentencepiece)
from lm_jax.errors import InputError

KINDS = ('sentencepiece', 'bpe')

_KIND = flags.DEFINE_enum(
    'kind', 'sentencepiece', KINDS,
    "sentencepiece (a .model with BERT's special tokens) or bpe (GPT-2's "
    'byte-level BPE, a tokenizer.json).')
_INPUT = flags.DEFINE_string(
    'input', None, 'Comma-separated globs of .txt or .txt.gz files.')
_OUTPUT = flags.DEFINE_string(
    'output', None, 'Path of the file to write; must end in .model '
    '(sentencepiece) or .json (bpe).')
_VOCAB_SIZE = flags.DEFINE_integer('vocab_size', 30522, 'Target vocab size.')
_MODEL_TYPE = flags.DEFINE_enum('model_type', 'unigram', MODEL_TYPES,
                                'SentencePiece model type (sentencepiece '
                                'only).')
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
    if _KIND.value == 'bpe' and flags.FLAGS['model_type'].present:
      raise InputError('--model_type is for --kind=sentencepiece only')
    files = list_files(_INPUT.value, '--input')
    common = dict(max_sentences=_MAX_SENTENCES.value, seed=_SEED.value,
                  decode_errors=_DECODE_ERRORS.value, report=report)
    if _KIND.value == 'bpe':
      path = bpe_training.train_bpe(files, _OUTPUT.value, _VOCAB_SIZE.value,
                                    **common)
    else:
      path = train_sentencepiece(files, _OUTPUT.value, _VOCAB_SIZE.value,
                                 model_type=_MODEL_TYPE.value, **common)
  except InputError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  if report.summary():
    print(f'warning: {report.summary()}', file=sys.stderr)
  print(f'wrote {path}')
  return 0


if __name__ == '__main__':
  app.run(main)
