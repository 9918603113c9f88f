"""data_pipelines/vocabulary.py: the vocabulary is built once, cached, and
identified by its content."""
import json
import shutil

import ml_collections
import pytest

from data_pipelines import tf_cpu
from data_pipelines import tokenizers
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
           tfds_name='', tfds_split='train', tfds_text_key='text',
           tfds_data_dir='', train_files=str(corpus), vocab_size=120,
           cache_dir=str(tmp_path / 'cache'), decode_errors='strict')
  c.update(overrides)
  return ml_collections.ConfigDict(c)


def test_built_once_then_cached(tmp_path):
  logs = []
  tokenizer, first_id, _ = vocabulary.load_or_build_tokenizer(
      data_cfg(tmp_path), log=logs.append)
  assert len(logs) == 1 and 'Training a 120-piece' in logs[0]
  assert (tokenizer.pad_id, tokenizer.cls_id, tokenizer.sep_id,
          tokenizer.mask_id) == (0, 2, 3, 4)
  logs.clear()
  _, second_id, _ = vocabulary.load_or_build_tokenizer(data_cfg(tmp_path),
                                                    log=logs.append)
  assert not logs and second_id == first_id


def test_vocab_id_follows_content_not_path(tmp_path):
  vocabulary.load_or_build_tokenizer(data_cfg(tmp_path), log=lambda line: None)
  built = next((tmp_path / 'cache' / 'vocab').glob('*.model'))
  copy = tmp_path / 'moved' / 'spm.model'
  copy.parent.mkdir()
  shutil.copy(built, copy)
  _, a, _ = vocabulary.load_or_build_tokenizer(data_cfg(tmp_path, vocab_path=str(built)))
  _, b, _ = vocabulary.load_or_build_tokenizer(data_cfg(tmp_path, vocab_path=str(copy)))
  assert a == b


def test_wordpiece_needs_a_vocab_file(tmp_path):
  with pytest.raises(InputError, match="vocab_path is required for the 'wordpiece'"):
    vocabulary.load_or_build_tokenizer(data_cfg(tmp_path, tokenizer='wordpiece'))


@pytest.mark.parametrize('tfds_name', ['', 'imdb_reviews'])
def test_multi_host_needs_a_shared_vocab_file(tmp_path, tfds_name):
  with pytest.raises(InputError, match='multi-host runs need data.vocab_path'):
    vocabulary.load_or_build_tokenizer(data_cfg(tmp_path, tfds_name=tfds_name),
                                       process_count=2)


def test_undecodable_line_is_replaced_and_logged(tmp_path):
  corpus = tmp_path / 'corpus.txt'
  corpus.write_bytes(TEXT.encode() + b'\nthe \xff whale\n')
  with pytest.raises(InputError, match=f'{corpus}:241: not UTF-8'):
    vocabulary.load_or_build_tokenizer(data_cfg(tmp_path), log=lambda _: None)
  logs = []
  vocabulary.load_or_build_tokenizer(
      data_cfg(tmp_path, decode_errors='replace'), log=logs.append)
  assert logs[-1] == ('Vocabulary text: 1 line with undecodable bytes '
                      f'replaced (first at {corpus}:241).')


def _imdb_reviews(texts: list[str]):
  """An `as_dataset_fn` for tfds' mock_data: these texts as imdb_reviews."""

  def as_dataset(*args, **kwargs):
    del args, kwargs
    return tf_cpu.tf().data.Dataset.from_tensor_slices(
        dict(text=texts, label=[0] * len(texts)))

  return as_dataset


def test_tfds_vocab_trained_on_the_split_once_then_cached(tmp_path):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  lines = TEXT.splitlines()
  # No train_files: the vocabulary can only come from the dataset.
  cfg = data_cfg(tmp_path, tfds_name='imdb_reviews', train_files='')
  examples = ['\n'.join(lines[i:i + 10]) for i in range(0, len(lines), 10)]
  logs = []
  with tfds.testing.mock_data(as_dataset_fn=_imdb_reviews(examples)):
    tokenizer, first_id, _ = vocabulary.load_or_build_tokenizer(cfg,
                                                             log=logs.append)
    assert len(logs) == 1
    assert 'vocabulary on tfds:imdb_reviews/train' in logs[0]
    ids = tokenizer.encode('the harpoon and the whale')
    assert tokenizer.unk_id not in ids
    assert tokenizer.decode(ids) == 'the harpoon and the whale'
    logs.clear()
    _, second_id, _ = vocabulary.load_or_build_tokenizer(cfg, log=logs.append)
    assert not logs and second_id == first_id
    # Another split is other text: its own vocabulary.
    vocabulary.load_or_build_tokenizer(
        data_cfg(tmp_path, tfds_name='imdb_reviews', tfds_split='test'),
        log=logs.append)
    assert len(logs) == 1
  assert len(list((tmp_path / 'cache' / 'vocab').glob('spm-120-*.model'))) == 2


# GPT-2 byte-level BPE.


def test_bpe_built_once_then_cached(tmp_path, monkeypatch):
  logs = []
  cfg = data_cfg(tmp_path, tokenizer='bpe', vocab_size=300)
  tokenizer, first_id, path = vocabulary.load_or_build_tokenizer(
      cfg, log=logs.append)
  assert len(logs) == 1
  assert 'Training a 300-piece byte-level BPE vocabulary' in logs[0]
  assert tokenizer.vocab_size == 300 and tokenizer.eot_id == 0
  assert tokenizer.decode(tokenizer.encode(' the whale')) == ' the whale'
  assert first_id.startswith('bpe-')
  cached = list((tmp_path / 'cache' / 'vocab').glob('*'))
  assert [p.name for p in cached] == [path.rsplit('/', 1)[1]]
  assert cached[0].name.startswith('bpe-300-')
  assert cached[0].name.endswith('.json')

  def no_training(*args, **kwargs):
    raise AssertionError('trained again')

  monkeypatch.setattr(vocabulary, 'train_bpe', no_training)
  logs.clear()
  _, second_id, second_path = vocabulary.load_or_build_tokenizer(
      cfg, log=logs.append)
  assert not logs and (second_id, second_path) == (first_id, path)


def _write_vocab_and_merges(tokenizer_json: str, directory) -> str:
  """The vocabulary of a tokenizer.json as GPT-2's vocab.json + merges.txt."""
  model = json.loads(tokenizer_json)['model']
  directory.mkdir(parents=True, exist_ok=True)
  (directory / 'vocab.json').write_text(json.dumps(model['vocab']),
                                        encoding='utf-8')
  (directory / 'merges.txt').write_text(
      '#version: 0.2\n' + ''.join(f'{m}\n' for m in model['merges']),
      encoding='utf-8')
  return str(directory / 'vocab.json')


def test_bpe_vocab_and_merges_become_one_cached_file(tmp_path):
  _, _, trained = vocabulary.load_or_build_tokenizer(
      data_cfg(tmp_path, tokenizer='bpe', vocab_size=300), log=lambda _: None)
  with open(trained, encoding='utf-8') as f:
    vocab_json = _write_vocab_and_merges(f.read(), tmp_path / 'gpt2')
  cfg = data_cfg(tmp_path, tokenizer='bpe', vocab_path=vocab_json)
  logs = []
  tokenizer, vocab_id, path = vocabulary.load_or_build_tokenizer(
      cfg, log=logs.append)
  assert len(logs) == 1 and logs[0].startswith(f'Converting {vocab_json} and ')
  assert path.startswith(str(tmp_path / 'cache' / 'vocab' / 'bpe-'))
  text = 'Sentence number 7 talks about the harpoon and the sea.'
  assert tokenizer.encode(text) == tokenizers.load_tokenizer(
      'bpe', vocab_json).encode(text)
  logs.clear()
  assert vocabulary.load_or_build_tokenizer(cfg, log=logs.append)[1:] == (
      vocab_id, path)
  assert not logs

  # The workdir keeps a copy of the one file and reloads it: same vocabulary.
  kept = tmp_path / 'workdir' / 'vocab' / 'kept.json'
  kept.parent.mkdir(parents=True)
  shutil.copy(path, kept)
  copy_tokenizer, copy_id, copy_path = vocabulary.load_or_build_tokenizer(
      data_cfg(tmp_path, tokenizer='bpe', vocab_path=str(kept)))
  assert (copy_id, copy_path) == (vocab_id, str(kept))
  assert copy_tokenizer.encode(text) == tokenizer.encode(text)

  # Other merges: another vocabulary, another file.
  merges = tmp_path / 'gpt2' / 'merges.txt'
  merges.write_text(merges.read_text(encoding='utf-8').rsplit('\n', 2)[0]
                    + '\n', encoding='utf-8')
  _, other_id, other_path = vocabulary.load_or_build_tokenizer(
      cfg, log=logs.append)
  assert other_id != vocab_id and other_path != path


def test_bpe_vocab_without_merges(tmp_path):
  vocab_json = tmp_path / 'gpt2' / 'vocab.json'
  vocab_json.parent.mkdir()
  vocab_json.write_text('{"a": 0}', encoding='utf-8')
  merges = str(tmp_path / 'gpt2' / 'merges.txt')
  with pytest.raises(InputError, match=f'merges file {merges} does not exist'):
    vocabulary.load_or_build_tokenizer(
        data_cfg(tmp_path, tokenizer='bpe', vocab_path=str(vocab_json)))
  assert not (tmp_path / 'cache').exists()


def test_bpe_tfds_vocab_trained_on_the_split(tmp_path):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  lines = TEXT.splitlines()
  cfg = data_cfg(tmp_path, tokenizer='bpe', vocab_size=300,
                 tfds_name='imdb_reviews', train_files='')
  examples = ['\n'.join(lines[i:i + 10]) for i in range(0, len(lines), 10)]
  logs = []
  with tfds.testing.mock_data(as_dataset_fn=_imdb_reviews(examples)):
    tokenizer, _, path = vocabulary.load_or_build_tokenizer(cfg,
                                                            log=logs.append)
  assert 'vocabulary on tfds:imdb_reviews/train' in logs[0]
  assert path.endswith('.json') and '/bpe-300-' in path
  assert [tokenizer.id_to_token(i) for i in tokenizer.encode(' the')] == [
      '\u0120the']
