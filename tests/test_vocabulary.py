"""data_pipelines/vocabulary.py: the vocabulary is built once, cached, and
identified by its content."""
import shutil

import ml_collections
import pytest

from data_pipelines import vocabulary
from lm_jax.errors import InputError

TEXT = '\n'.join(f'Sentence number {i} talks about the {w} and the sea.'
                 for i, w in enumerate(['whale', 'ship', 'captain', 'harpoon',
                                        'storm', 'island'] * 40))


def data_cfg(tmp_path, **overrides):
  corpus = tmp_path / 'corpus.txt'
  if not corpus.exists():
    corpus.write_text(TEXT + '\n')
  c = dict(vocab_path='', tokenizer='sentencepiece', lowercase=True,
           tfds_name='', train_files=str(corpus), vocab_size=120,
           cache_dir=str(tmp_path / 'cache'))
  c.update(overrides)
  return ml_collections.ConfigDict(c)


def test_built_once_then_cached(tmp_path):
  logs = []
  tokenizer, first_id = vocabulary.load_or_build_tokenizer(
      data_cfg(tmp_path), log=logs.append)
  assert len(logs) == 1 and 'Training a 120-piece' in logs[0]
  assert (tokenizer.pad_id, tokenizer.cls_id, tokenizer.sep_id,
          tokenizer.mask_id) == (0, 2, 3, 4)
  logs.clear()
  _, second_id = vocabulary.load_or_build_tokenizer(data_cfg(tmp_path),
                                                    log=logs.append)
  assert not logs and second_id == first_id


def test_vocab_id_follows_content_not_path(tmp_path):
  vocabulary.load_or_build_tokenizer(data_cfg(tmp_path), log=lambda line: None)
  built = next((tmp_path / 'cache' / 'vocab').glob('*.model'))
  copy = tmp_path / 'moved' / 'spm.model'
  copy.parent.mkdir()
  shutil.copy(built, copy)
  _, a = vocabulary.load_or_build_tokenizer(data_cfg(tmp_path, vocab_path=str(built)))
  _, b = vocabulary.load_or_build_tokenizer(data_cfg(tmp_path, vocab_path=str(copy)))
  assert a == b


def test_wordpiece_needs_a_vocab_file(tmp_path):
  with pytest.raises(InputError, match="vocab_path is required for the 'wordpiece'"):
    vocabulary.load_or_build_tokenizer(data_cfg(tmp_path, tokenizer='wordpiece'))


def test_multi_host_needs_a_shared_vocab_file(tmp_path):
  with pytest.raises(InputError, match='multi-host runs need data.vocab_path'):
    vocabulary.load_or_build_tokenizer(data_cfg(tmp_path), process_count=2)
