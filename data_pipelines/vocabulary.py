"""The run's tokenizer: the configured vocabulary, or one trained on the
training text (files or a TFDS split) on first use and cached: a SentencePiece
model, or GPT-2's byte-level BPE for `data.tokenizer = 'bpe'`.

The vocabulary is always one file, which the trainer copies into the workdir:
a configured GPT-2 `vocab.json` + `merges.txt` pair is converted once into a
cached `tokenizer.json`."""
import hashlib
import itertools
import os

from data_pipelines import cache, tf_cpu
from data_pipelines.bpe_training import train_bpe, train_bpe_on_lines
from data_pipelines.sources import DecodeReport, list_files, tfds_documents
from data_pipelines.spm_training import (MAX_SENTENCES, write_atomically,
                                         train_sentencepiece,
                                         train_sentencepiece_on_lines)
from data_pipelines.tokenizers import (ByteLevelBPETokenizer, Tokenizer,
                                       load_tokenizer)
from lm_jax.errors import InputError


def load_or_build_tokenizer(data_cfg, process_count: int = 1,
                            log=print) -> tuple[Tokenizer, str, str]:
  """Returns the tokenizer, an id of its vocabulary's content (so a
  checkpoint can tell whether it is resumed with the same one) and the
  vocabulary file's path."""
  if data_cfg.vocab_path:
    if data_cfg.tokenizer == 'bpe':
      tokenizer, path = _bpe_vocabulary(data_cfg.vocab_path,
                                        data_cfg.cache_dir, log)
    else:
      path = data_cfg.vocab_path
      tokenizer = load_tokenizer(data_cfg.tokenizer, path,
                                 lowercases(data_cfg))
    return tokenizer, vocab_id(path, data_cfg), path

  if data_cfg.tokenizer not in ('sentencepiece', 'bpe'):
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
  bpe = data_cfg.tokenizer == 'bpe'
  name = (f'bpe-{data_cfg.vocab_size}-{key}.json' if bpe else
          f'spm-{data_cfg.vocab_size}-{key}.model')
  path = os.path.join(cache.cache_root(data_cfg.cache_dir), 'vocab', name)
  train, train_on_lines = ((train_bpe, train_bpe_on_lines) if bpe else
                           (train_sentencepiece, train_sentencepiece_on_lines))
  if not os.path.exists(path):
    log(f'Training a {data_cfg.vocab_size}-piece '
        f'{"byte-level BPE" if bpe else "SentencePiece"} vocabulary on '
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
      train_on_lines(lines, path, data_cfg.vocab_size, source=source)
    else:
      train(files, path, data_cfg.vocab_size,
            decode_errors=data_cfg.decode_errors, report=report)
    if report.summary():
      log(f'Vocabulary text: {report.summary()}.')
  tokenizer = load_tokenizer(data_cfg.tokenizer, path, lowercases(data_cfg))
  return tokenizer, vocab_id(path, data_cfg), path


def lowercases(data_cfg) -> bool:
  """Whether the run's tokenizer lower-cases: `data.lowercase` for
  WordPiece, `data.spm_lowercase` (ALBERT's text preparation) for
  SentencePiece; a config written before that key existed did not."""
  if data_cfg.tokenizer == 'wordpiece':
    return data_cfg.lowercase
  if data_cfg.tokenizer == 'sentencepiece':
    return data_cfg.get('spm_lowercase', False)
  return False


def _bpe_vocabulary(vocab_path: str, cache_dir: str,
                    log) -> tuple[ByteLevelBPETokenizer, str]:
  """The configured BPE vocabulary and the one file that holds it.

  A tokenizer.json is that file. A vocab.json + merges.txt pair is converted
  once into a cached tokenizer.json, named by the content of both files, and
  the tokenizer is read back from it: the very file the workdir keeps.
  """
  tokenizer = ByteLevelBPETokenizer(vocab_path)
  if len(tokenizer.files) == 1:
    return tokenizer, vocab_path
  key = cache.fingerprint(*(_content_hash(f) for f in tokenizer.files))
  path = os.path.join(cache.cache_root(cache_dir), 'vocab', f'bpe-{key}.json')
  if not os.path.exists(path):
    log(f'Converting {" and ".join(tokenizer.files)} into {path}')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomically(path, tokenizer.tokenizer_json.encode('utf-8'))
  return ByteLevelBPETokenizer(path), path


def _content_hash(path: str) -> str:
  with tf_cpu.tf().io.gfile.GFile(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


def vocab_id(path: str, data_cfg) -> str:
  """An id of the vocabulary's content and how the run reads it."""
  return (f'{data_cfg.tokenizer}-'
          f'{cache.fingerprint(_content_hash(path), lowercases(data_cfg))}')
