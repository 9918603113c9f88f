"""The run's tokenizer: the configured vocabulary, or a SentencePiece model
trained on the training text on first use and cached."""
import hashlib
import os

from data_pipelines import cache, tf_cpu
from data_pipelines.spm_training import train_sentencepiece
from data_pipelines.sources import list_files
from data_pipelines.tokenizers import Tokenizer, load_tokenizer
from lm_jax.errors import InputError


def load_or_build_tokenizer(data_cfg, process_count: int = 1,
                            log=print) -> tuple[Tokenizer, str]:
  """Returns the tokenizer and an id of its vocabulary's content (so a
  checkpoint can tell whether it is resumed with the same one)."""
  if data_cfg.vocab_path:
    tokenizer = load_tokenizer(data_cfg.tokenizer, data_cfg.vocab_path,
                               lowercase=data_cfg.lowercase)
    return tokenizer, _vocab_id(data_cfg.vocab_path, data_cfg.tokenizer,
                                data_cfg.lowercase)

  if data_cfg.tokenizer != 'sentencepiece':
    raise InputError(f'data.vocab_path is required for the '
                     f'{data_cfg.tokenizer!r} tokenizer')
  if data_cfg.tfds_name:
    raise InputError('data.vocab_path is required with data.tfds_name (build '
                     'one with python -m data_pipelines.build_vocab)')
  if process_count > 1:
    # Each host would train its own model; they must share one vocabulary.
    raise InputError('multi-host runs need data.vocab_path (build it once '
                     'with python -m data_pipelines.build_vocab)')
  files = list_files(data_cfg.train_files)
  key = cache.fingerprint(cache.file_signature(files), data_cfg.vocab_size)
  path = os.path.join(cache.cache_root(data_cfg.cache_dir), 'vocab',
                      f'spm-{data_cfg.vocab_size}-{key}.model')
  if not os.path.exists(path):
    log(f'Training a {data_cfg.vocab_size}-piece SentencePiece vocabulary on '
        f'{len(files)} file(s) into {path} ...')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    train_sentencepiece(files, path, data_cfg.vocab_size)
  tokenizer = load_tokenizer('sentencepiece', path)
  return tokenizer, _vocab_id(path, 'sentencepiece', data_cfg.lowercase)


def _vocab_id(path: str, kind: str, lowercase: bool) -> str:
  with tf_cpu.tf().io.gfile.GFile(path, 'rb') as f:
    content = hashlib.sha256(f.read()).hexdigest()
  return f'{kind}-{cache.fingerprint(content, kind == "wordpiece" and lowercase)}'
