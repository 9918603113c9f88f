"""Tests for data_pipelines.tasks.glue on real GLUE slices and broken files."""
import os
import pathlib

import numpy as np
import pytest

from conftest import assert_one_line
from data_pipelines import tokenizers
from data_pipelines.tasks import glue
from lm_jax.errors import InputError


GLUE_DIR = os.path.join(os.path.dirname(__file__), 'data', 'tasks', 'glue')

# PAD UNK CLS SEP MASK are ids 0-4; 'the' is 5, ..., '##s' is 15.
VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'cat', 'sat',
         'on', 'mat', 'a', 'dog', '.', 'run', '##ning', '##s']


@pytest.fixture
def tokenizer(tmp_path) -> tokenizers.WordPieceTokenizer:
  path = tmp_path / 'vocab.txt'
  path.write_text(''.join(t + '\n' for t in VOCAB), encoding='utf-8')
  return tokenizers.WordPieceTokenizer(str(path))


def _read(task: str, split: str, labelled: bool = True):
  t = glue.TASKS[task]
  examples, skipped = glue.read_split(t, t.path(GLUE_DIR, split),
                                      labelled=labelled)
  assert skipped == []
  return examples


def _write(tmp_path: pathlib.Path, text: str, name: str = 'x.tsv') -> str:
  path = tmp_path / name
  path.write_text(text, encoding='utf-8')
  return str(path)


class TestTaskTable:

  def test_tasks_and_their_properties(self):
    assert list(glue.TASKS) == ['cola', 'sst2', 'mrpc', 'stsb', 'qqp', 'mnli',
                                'qnli', 'rte', 'wnli']
    assert {n: t.main_metric for n, t in glue.TASKS.items()} == {
        'cola': 'mcc', 'sst2': 'accuracy', 'mrpc': 'f1', 'stsb': 'spearman',
        'qqp': 'f1', 'mnli': 'accuracy', 'qnli': 'accuracy',
        'rte': 'accuracy', 'wnli': 'accuracy'}
    assert [n for n, t in glue.TASKS.items() if t.double_unordered] == [
        'mrpc', 'stsb']
    assert [n for n, t in glue.TASKS.items() if not t.is_pair] == [
        'cola', 'sst2']
    assert glue.TASKS['stsb'].is_regression
    assert glue.TASKS['stsb'].metric == 'correlation'
    assert glue.TASKS['qqp'].metric == 'accuracy_f1'
    assert glue.get_task('SST-2') is glue.TASKS['sst2']

  def test_mnli_has_two_eval_and_two_test_splits(self):
    mnli = glue.TASKS['mnli']
    assert [(s.name, s.file_name) for s in mnli.eval_splits] == [
        ('matched', 'dev_matched.tsv'), ('mismatched', 'dev_mismatched.tsv')]
    assert [(s.file_name, s.submission) for s in mnli.test_splits] == [
        ('test_matched.tsv', 'MNLI-m.tsv'),
        ('test_mismatched.tsv', 'MNLI-mm.tsv')]
    assert glue.TASKS['sst2'].split('test').submission == 'SST-2.tsv'

  def test_unknown_task_and_split(self):
    with pytest.raises(InputError, match='unknown GLUE task'):
      glue.get_task('squad')
    with pytest.raises(InputError, match='no split'):
      glue.TASKS['rte'].split('matched')


class TestReadRealSlices:

  def test_mrpc_bom_and_header(self):
    examples = _read('mrpc', 'train')
    assert len(examples) == 96
    first = examples[0]
    assert first.text_a.startswith('Amrozi accused his brother')
    assert first.text_b.startswith('Referring to him as only "the witness"')
    assert first.label == 1 and first.guid == 'line-2'
    assert sum(e.label for e in examples) == 61
    test = _read('mrpc', 'test', labelled=False)
    assert [e.guid for e in test] == [str(i) for i in range(10)]
    assert all(e.label is None for e in test)

  def test_cola_train_has_no_header_and_test_has_one(self):
    examples = _read('cola', 'train')
    assert len(examples) == 96
    assert examples[0].text_a.startswith("Our friends won't buy this")
    assert examples[0].text_b is None and examples[0].guid == 'line-1'
    assert sum(e.label for e in examples) == 73
    test = _read('cola', 'test', labelled=False)
    assert test[0].guid == '0'
    assert test[0].text_a == 'Bill whistled past the house.'

  def test_stsb_scores_are_floats(self):
    examples = _read('stsb', 'dev')
    assert len(examples) == 48
    assert [e.label for e in examples[:2]] == [5.0, 4.75]
    assert examples[0].text_a == 'A man with a hard hat is dancing.'
    assert all(isinstance(e.label, float) for e in examples)

  def test_sst2_label_counts(self):
    train = _read('sst2', 'train')
    assert (len(train), sum(e.label for e in train)) == (96, 46)
    dev = _read('sst2', 'dev')
    assert (len(dev), sum(e.label for e in dev)) == (48, 23)

  def test_rte_labels_are_indices_of_the_label_list(self):
    examples = _read('rte', 'train')
    assert examples[0].label == glue.TASKS['rte'].labels.index(
        'not_entailment') == 1
    assert examples[0].guid == '0'


class TestBadFiles:

  def test_wrong_column_count(self, tmp_path):
    path = _write(tmp_path, 'sentence\tlabel\ngood\t1\nbad\t0\textra\n')
    with pytest.raises(InputError) as e:
      glue.read_split(glue.TASKS['sst2'], path, labelled=True)
    message = assert_one_line(e, f'{path}:3:')
    assert '3' in message and 'expected 2' in message

  def test_cola_row_without_four_columns(self, tmp_path):
    path = _write(tmp_path, 'gj04\t1\t\tFine.\ngj04\t1\tShort.\n')
    with pytest.raises(InputError) as e:
      glue.read_split(glue.TASKS['cola'], path, labelled=True)
    assert_one_line(e, f'{path}:2: 3 tab-separated columns, expected 4')

  def test_unknown_label(self, tmp_path):
    path = _write(tmp_path, 'index\tsentence1\tsentence2\tlabel\n'
                  '0\tA.\tB.\tentailment\n1\tA.\tB.\tneutral\n')
    with pytest.raises(InputError) as e:
      glue.read_split(glue.TASKS['rte'], path, labelled=True)
    message = assert_one_line(e, f'{path}:3:')
    assert "'neutral'" in message and 'entailment, not_entailment' in message

  @pytest.mark.parametrize('score', ['high', '5.5', '-0.1', 'nan'])
  def test_bad_stsb_score(self, tmp_path, score):
    path = _write(tmp_path, 'index\tsentence1\tsentence2\tscore\n'
                  f'0\tA.\tB.\t{score}\n')
    with pytest.raises(InputError) as e:
      glue.read_split(glue.TASKS['stsb'], path, labelled=True)
    assert_one_line(e, f'{path}:2: score')

  def test_empty_file(self, tmp_path):
    path = _write(tmp_path, '')
    with pytest.raises(InputError) as e:
      glue.read_split(glue.TASKS['sst2'], path, labelled=True)
    assert_one_line(e, path)

  def test_header_only(self, tmp_path):
    path = _write(tmp_path, 'sentence\tlabel\n')
    with pytest.raises(InputError) as e:
      glue.read_split(glue.TASKS['sst2'], path, labelled=True)
    assert_one_line(e, f'{path} has no rows')

  def test_header_without_the_label_column(self, tmp_path):
    # A test file read as labelled.
    path = os.path.join(GLUE_DIR, 'RTE', 'test.tsv')
    with pytest.raises(InputError) as e:
      glue.read_split(glue.TASKS['rte'], path, labelled=True)
    assert_one_line(e, f"{path}:1: the header has no 'label' column")

  def test_skip_malformed_returns_the_skipped_lines(self, tmp_path):
    path = _write(tmp_path, 'sentence\tlabel\na\t1\nb\n c\t2\nd\t0\n')
    examples, skipped = glue.read_split(glue.TASKS['sst2'], path,
                                        labelled=True, skip_malformed=True)
    assert [(e.text_a, e.label) for e in examples] == [('a', 1), ('d', 0)]
    assert skipped == [3, 4]


class TestFeaturize:

  def test_pair_rows(self, tokenizer):
    examples = [glue.PairExample('0', 'The cat sat.', 'A dog', 0),
                glue.PairExample('1', 'the mat', 'zebra', None)]
    arrays, num_truncated = glue.featurize(examples, tokenizer, 10,
                                           task=glue.TASKS['rte'])
    assert num_truncated == 0
    np.testing.assert_array_equal(arrays['ids'], [
        [2, 5, 6, 7, 12, 3, 10, 11, 3, 0],
        [2, 5, 9, 3, 1, 3, 0, 0, 0, 0]])
    np.testing.assert_array_equal(arrays['segment_ids'], [
        [0, 0, 0, 0, 0, 0, 1, 1, 1, 0],
        [0, 0, 0, 0, 1, 1, 0, 0, 0, 0]])
    np.testing.assert_array_equal(arrays['input_mask'], [
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]])
    np.testing.assert_array_equal(arrays['label'], [0, -1])
    np.testing.assert_array_equal(arrays['example_index'], [0, 1])
    assert all(a.dtype == np.int32 for a in arrays.values())
    assert 'target' not in arrays

  def test_pair_truncation_pops_from_the_longer(self, tokenizer):
    examples = [glue.PairExample('0', 'The cat sat.', 'A dog', 1)]
    arrays, num_truncated = glue.featurize(examples, tokenizer, 8,
                                           task=glue.TASKS['rte'])
    assert num_truncated == 1
    np.testing.assert_array_equal(arrays['ids'], [[2, 5, 6, 7, 3, 10, 11, 3]])

  def test_single_sentence_truncation(self, tokenizer):
    examples = [glue.PairExample('0', 'The cats running', None, 1),
                glue.PairExample('1', 'a dog', None, 0)]
    arrays, num_truncated = glue.featurize(examples, tokenizer, 5,
                                           task=glue.TASKS['sst2'])
    assert num_truncated == 1
    np.testing.assert_array_equal(arrays['ids'], [[2, 5, 6, 15, 3],
                                                  [2, 10, 11, 3, 0]])
    np.testing.assert_array_equal(arrays['segment_ids'], np.zeros((2, 5)))
    np.testing.assert_array_equal(arrays['input_mask'], [[1, 1, 1, 1, 1],
                                                         [1, 1, 1, 1, 0]])

  def test_truncate_pair_rule(self):
    assert glue.truncate_pair([1, 2, 3, 4, 5], [6, 7, 8], 6) == (
        [1, 2, 3], [6, 7, 8])
    assert glue.truncate_pair([1, 2], [3, 4], 3) == ([1, 2], [3])  # B on ties
    assert glue.truncate_pair([1, 2, 3, 4, 5], [], 3) == ([1, 2, 3], [])
    assert glue.truncate_pair([1], [2], 5) == ([1], [2])

  def test_stsb_targets_and_double_unordered(self, tokenizer):
    examples = _read('stsb', 'dev')[:3]
    doubled = glue.double_unordered(examples)
    assert len(doubled) == 6
    assert (doubled[3].text_a, doubled[3].text_b, doubled[3].label) == (
        examples[0].text_b, examples[0].text_a, 5.0)
    arrays, _ = glue.featurize(doubled, tokenizer, 32,
                               task=glue.TASKS['stsb'])
    assert arrays['target'].dtype == np.float32 and 'label' not in arrays
    np.testing.assert_allclose(arrays['target'],
                               [e.label for e in examples] * 2)

  def test_real_slice_shapes(self, tokenizer):
    examples = _read('mrpc', 'dev')
    arrays, _ = glue.featurize(examples, tokenizer, 16,
                               task=glue.TASKS['mrpc'])
    assert arrays['ids'].shape == (48, 16)
    assert (arrays['input_mask'].sum(1) == 16).all()  # long pairs, all cut


class TestSubmission:

  def test_classification(self, tmp_path):
    path = glue.write_submission(str(tmp_path), 'mnli', 'test_matched',
                                 ['0', '1', '2'], np.array([1, 0, 2]))
    assert path == str(tmp_path / 'MNLI-m.tsv')
    assert pathlib.Path(path).read_text() == (
        'index\tprediction\n0\tentailment\n1\tcontradiction\n2\tneutral\n')
    assert os.listdir(tmp_path) == ['MNLI-m.tsv']

  def test_regression_from_a_real_test_file(self, tmp_path):
    test = _read('stsb', 'test', labelled=False)[:2]
    path = glue.write_submission(str(tmp_path), 'stsb', 'test',
                                 [e.guid for e in test], [4.12345, 0.5])
    assert pathlib.Path(path).read_text() == (
        'index\tprediction\n0\t4.123\n1\t0.500\n')

  def test_not_a_test_split(self, tmp_path):
    with pytest.raises(ValueError, match='not a test split'):
      glue.write_submission(str(tmp_path), 'rte', 'dev', ['0'], [0])
