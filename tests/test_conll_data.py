"""Tests for data_pipelines.tasks.conll on the CoNLL-2003 slices."""
import os
import pathlib

import numpy as np
import pytest

from conftest import assert_one_line
from data_pipelines import tokenizers
from data_pipelines.tasks import conll
from lm_jax.errors import InputError


CONLL_DIR = os.path.join(os.path.dirname(__file__), 'data', 'tasks',
                         'conll2003')
TRAIN = os.path.join(CONLL_DIR, 'eng.train')
TESTA = os.path.join(CONLL_DIR, 'eng.testa')

# PAD UNK CLS SEP MASK are ids 0-4; 'eu' is 5, ..., '##s' is 13.
VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'eu', 'rejects',
         'german', 'call', 'peter', 'black', '##burn', '.', '##s']
TAGS = ['O', 'B-LOC', 'B-MISC', 'B-ORG', 'B-PER', 'I-LOC', 'I-MISC', 'I-ORG',
        'I-PER']
TAG_IDS = {t: i for i, t in enumerate(TAGS)}


@pytest.fixture
def tokenizer(tmp_path) -> tokenizers.WordPieceTokenizer:
  path = tmp_path / 'vocab.txt'
  path.write_text(''.join(t + '\n' for t in VOCAB), encoding='utf-8')
  return tokenizers.WordPieceTokenizer(str(path))


def _write(tmp_path: pathlib.Path, text: str) -> str:
  path = tmp_path / 'eng.x'
  path.write_text(text, encoding='utf-8')
  return str(path)


class TestRead:

  def test_real_slice_in_iob2(self):
    sentences = conll.read_conll(TRAIN)
    # The slice's 80 blank-line-separated blocks, less 7 document markers.
    assert len(sentences) == 73
    first = sentences[0]
    assert first.line == 3  # after '-DOCSTART-' and its blank line
    assert first.words == ['EU', 'rejects', 'German', 'call', 'to',
                           'boycott', 'British', 'lamb', '.']
    # IOB1 'I-ORG' opening a chunk becomes 'B-ORG'.
    assert first.tags == ['B-ORG', 'O', 'B-MISC', 'O', 'O', 'O', 'B-MISC',
                          'O', 'O']
    assert (sentences[1].words, sentences[1].tags) == (
        ['Peter', 'Blackburn'], ['B-PER', 'I-PER'])
    # 'The European Commission': I-ORG I-ORG in the file.
    assert sentences[3].words[:3] == ['The', 'European', 'Commission']
    assert sentences[3].tags[:3] == ['O', 'B-ORG', 'I-ORG']
    assert sentences[3].line == 19
    assert not any('-DOCSTART-' in s.words for s in sentences)
    assert all(not t.startswith('I-') or s.tags[i - 1][2:] == t[2:]
               for s in sentences for i, t in enumerate(s.tags))

  def test_eval_file_against_training_tags(self):
    tags = conll.tag_list(conll.read_conll(TRAIN))
    assert tags == TAGS
    # 40 blocks, 3 of them document markers.
    assert len(conll.read_conll(TESTA, tags)) == 37

  def test_iob1_b_between_same_type_and_iob2_input(self, tmp_path):
    path = _write(tmp_path, 'a I-PER\nb I-PER\nc B-PER\nd I-LOC\ne O\n'
                  'f B-ORG\ng I-ORG\n')
    [sentence] = conll.read_conll(path)
    assert sentence.tags == ['B-PER', 'I-PER', 'B-PER', 'B-LOC', 'O', 'B-ORG',
                             'I-ORG']

  def test_tag_outside_the_training_tags(self, tmp_path):
    path = _write(tmp_path, 'a O\n\nb O\nc I-ORG\nd I-FOO\n')
    with pytest.raises(InputError) as e:
      conll.read_conll(path, TAGS)
    assert_one_line(e, f"{path}:5: tag 'I-FOO' ('B-FOO' in IOB2) is not in")

  @pytest.mark.parametrize('line', ['EU NNP I-NP E-ORG', 'EU NNP I-NP X',
                                    'EU NNP I-NP B-'])
  def test_bad_tag(self, tmp_path, line):
    path = _write(tmp_path, f'-DOCSTART- -X- O O\n\nok O\n{line}\n')
    with pytest.raises(InputError) as e:
      conll.read_conll(path)
    assert_one_line(e, f'{path}:4: tag')

  def test_one_column_line(self, tmp_path):
    path = _write(tmp_path, 'ok O\n\nlonely\n')
    with pytest.raises(InputError) as e:
      conll.read_conll(path)
    assert_one_line(e, f'{path}:3: one column only')

  def test_no_sentences(self, tmp_path):
    path = _write(tmp_path, '-DOCSTART- -X- O O\n\n')
    with pytest.raises(InputError) as e:
      conll.read_conll(path)
    assert_one_line(e, f'{path} has no sentences')


class TestFeaturize:

  def test_hand_example(self, tokenizer):
    sentences = [conll.TaggedSentence(['EU', 'rejects', 'Blackburns', 'x'],
                                      ['B-ORG', 'O', 'B-PER', 'O'], 1)]
    arrays, num_split = conll.featurize(sentences, tokenizer, 9, TAG_IDS)
    assert num_split == 0
    np.testing.assert_array_equal(arrays['ids'],
                                  [[2, 5, 6, 10, 11, 13, 1, 3, 0]])
    np.testing.assert_array_equal(arrays['segment_ids'], np.zeros((1, 9)))
    np.testing.assert_array_equal(arrays['input_mask'],
                                  [[1, 1, 1, 1, 1, 1, 1, 1, 0]])
    np.testing.assert_array_equal(arrays['tags'],
                                  [[-1, 3, 0, 4, -1, -1, 0, -1, -1]])
    np.testing.assert_array_equal(arrays['word_index'],
                                  [[-1, 0, 1, 2, -1, -1, 3, -1, -1]])
    np.testing.assert_array_equal(arrays['example_index'], [0])
    assert all(a.dtype == np.int32 for a in arrays.values())

  def test_long_sentence_split_at_words(self, tokenizer):
    sentences = [conll.TaggedSentence(['Peter', 'Blackburns', 'EU', 'call'],
                                      ['B-PER', 'I-PER', 'O', 'O'], 1),
                 conll.TaggedSentence(['.'], ['O'], 6)]
    arrays, num_split = conll.featurize(sentences, tokenizer, 5, TAG_IDS)
    assert num_split == 1
    np.testing.assert_array_equal(arrays['ids'], [[2, 9, 3, 0, 0],
                                                  [2, 10, 11, 13, 3],
                                                  [2, 5, 8, 3, 0],
                                                  [2, 12, 3, 0, 0]])
    np.testing.assert_array_equal(arrays['word_index'], [[-1, 0, -1, -1, -1],
                                                         [-1, 1, -1, -1, -1],
                                                         [-1, 2, 3, -1, -1],
                                                         [-1, 0, -1, -1, -1]])
    np.testing.assert_array_equal(arrays['example_index'], [0, 0, 0, 1])

  def test_word_longer_than_a_row_and_word_with_no_pieces(self, tokenizer):
    sentences = [conll.TaggedSentence(['Blackburns', '\x00'], ['O', 'O'], 1)]
    arrays, num_split = conll.featurize(sentences, tokenizer, 4, TAG_IDS)
    assert num_split == 1
    np.testing.assert_array_equal(arrays['ids'], [[2, 10, 11, 3],
                                                  [2, 1, 3, 0]])

  def test_every_word_of_the_real_slice_predicted_once(self, tokenizer):
    sentences = conll.read_conll(TRAIN)
    arrays, num_split = conll.featurize(sentences, tokenizer, 8, TAG_IDS)
    assert num_split > 0 and len(arrays['ids']) > len(sentences)
    # Predicting the gold tags must give them back, word for word.
    predicted_NxL = np.maximum(arrays['tags'], 0)
    predicted = conll.assemble(sentences, arrays['example_index'],
                               arrays['word_index'], predicted_NxL, TAGS)
    assert predicted == [s.tags for s in sentences]

  def test_assemble_refuses_a_missing_word(self, tokenizer):
    sentences = conll.read_conll(TESTA)[:2]
    arrays, _ = conll.featurize(sentences, tokenizer, 16, TAG_IDS)
    arrays['word_index'][0, 1] = -1
    with pytest.raises(AssertionError):
      conll.assemble(sentences, arrays['example_index'], arrays['word_index'],
                     np.zeros_like(arrays['ids']), TAGS)


def test_write_predictions(tmp_path):
  sentences = [conll.TaggedSentence(['EU', 'rejects'], ['B-ORG', 'O'], 3),
               conll.TaggedSentence(['Peter'], ['B-PER'], 6)]
  path = tmp_path / 'predictions.txt'
  conll.write_predictions(str(path), sentences, [['B-ORG', 'B-PER'], ['O']])
  assert path.read_text() == ('EU B-ORG B-ORG\nrejects O B-PER\n\n'
                              'Peter B-PER O\n\n')
  assert os.listdir(tmp_path) == ['predictions.txt']
