"""The run's tokenizer: the configured vocabulary, or a SentencePiece model
trained on the training text (files or a TFDS split) on first use and
cached."""
import hashlib
import itertools
import os

from data_pipelines import cache, tf_cpu
from data_pipelines.sources import DecodeReport, list_files, tfds_documents
from data_pipelines.spm_training import (MAX_SENTENCES, train_sentencepiece,
                                         train_sentencepiece_on_lines)
from data_pipelines.tokenizers import Tokenizer, load_tokenizer
from lm_jax.errors import InputError


def load_or_build_tokenizer(data_cfg, process_count: int = 1,
                            log=print) -> tuple[Tokenizer, str, str]:
  """Returns the tokenizer, an id of its vocabulary's content (so a
  checkpoint can tell whether it is resumed with the same one) and the
  vocabulary file's path."""
  if data_cfg.vocab_path:
    tokenizer = load_tokenizer(data_cfg.tokenizer, data_cfg.vocab_path,
                               lowercase=data_cfg.lowercase)
    return tokenizer, _vocab_id(data_cfg.vocab_path, data_cfg.tokenizer,
                                data_cfg.lowercase), data_cfg.vocab_path

  if data_cfg.tokenizer != 'sentencepiece':
    raise InputError(f'data.vocab_path is required for the '
                     f'{data_cfg.tokenizer!r} tokenizer')
  if process_count > 1:
    # Each host would train its own model; they must share one vocabulary.
    raise InputError('multi-host runs need data.vocab_path (build it once '
                     'with python -m data_pipelines.build_vocab)')
  report = DecodeReport(data_cfg.decode_errors)
  if data_cfg.tfds_name:
    key = cache.fingerprint(
        'tfds', data_cfg.tfds_name, data_cfg.tfds_split,
        data_cfg.tfds_text_key, data_cfg.tfds_data_dir, data_cfg.vocab_size)
    source = f'tfds:{data_cfg.tfds_name}/{data_cfg.tfds_split}'
  else:
    files = list_files(data_cfg.train_files)
    key = cache.fingerprint(cache.file_signature(files), data_cfg.vocab_size)
    source = f'{len(files)} file(s)'
  path = os.path.join(cache.cache_root(data_cfg.cache_dir), 'vocab',
                      f'spm-{data_cfg.vocab_size}-{key}.model')
  if not os.path.exists(path):
    log(f'Training a {data_cfg.vocab_size}-piece SentencePiece vocabulary on '
        f'{source} into {path} ...')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if data_cfg.tfds_name:
      documents = tfds_documents(
          data_cfg.tfds_name, data_cfg.tfds_split, data_cfg.tfds_text_key, 0,
          1, data_cfg.tfds_data_dir, data_cfg.decode_errors, report)
      # TFDS writes its examples shuffled, so the split's first lines are a
      # fair sample, and reading stops there however big the split is.
      lines = itertools.islice(itertools.chain.from_iterable(documents),
                               MAX_SENTENCES)
      train_sentencepiece_on_lines(lines, path, data_cfg.vocab_size,
                                   source=source)
    else:
      train_sentencepiece(files, path, data_cfg.vocab_size,
                          decode_errors=data_cfg.decode_errors, report=report)
    if report.summary():
      log(f'Vocabulary text: {report.summary()}.')
  tokenizer = load_tokenizer('sentencepiece', path)
  return tokenizer, _vocab_id(path, 'sentencepiece', data_cfg.lowercase), path


def _vocab_id(path: str, kind: str, lowercase: bool) -> str:
  with tf_cpu.tf().io.gfile.GFile(path, 'rb') as f:
    content = hashlib.sha256(f.read()).hexdigest()
  return f'{kind}-{cache.fingerprint(content, kind == "wordpiece" and lowercase)}'
