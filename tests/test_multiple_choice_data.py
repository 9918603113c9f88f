"""Tests for data_pipelines.tasks.multiple_choice on the PIQA slice and
SWAG-style files."""
import json
import os
import pathlib

import numpy as np
import pytest

from conftest import assert_one_line
from data_pipelines import tokenizers
from data_pipelines.tasks import multiple_choice as mc
from lm_jax.errors import InputError


PIQA_DIR = os.path.join(os.path.dirname(__file__), 'data', 'tasks', 'piqa')

# PAD UNK CLS SEP MASK are ids 0-4; 'the' is 5, ..., '.' is 11.
VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'cat', 'sat',
         'on', 'mat', 'a', '.']


@pytest.fixture
def tokenizer(tmp_path) -> tokenizers.WordPieceTokenizer:
  path = tmp_path / 'vocab.txt'
  path.write_text(''.join(t + '\n' for t in VOCAB), encoding='utf-8')
  return tokenizers.WordPieceTokenizer(str(path))


def _write(tmp_path: pathlib.Path, name: str, lines: list[str]) -> str:
  path = tmp_path / name
  path.write_text(''.join(line + '\n' for line in lines), encoding='utf-8')
  return str(path)


def _jsonl(objects: list[dict]) -> list[str]:
  return [json.dumps(o) for o in objects]


class TestPiqa:

  def test_real_slice(self):
    examples = mc.find_split(PIQA_DIR, 'train')
    assert len(examples) == 64
    first = examples[0]
    assert first.context == (
        "How do I ready a guinea pig cage for it's new occupants?")
    assert first.choices[0].startswith('Provide the guinea pig with a cage')
    assert len(first.choices) == 2 and first.label == 0
    assert first.guid == 'line-1'
    labels_path = os.path.join(PIQA_DIR, 'train-labels.lst')
    with open(labels_path, encoding='utf-8') as f:
      assert [e.label for e in examples] == [int(x) for x in f.read().split()]

  def test_dev_is_valid_and_labels_are_optional(self):
    dev = mc.find_split(PIQA_DIR, 'dev')
    assert (len(dev), sum(e.label for e in dev)) == (32, 18)
    unlabelled = mc.read_piqa(os.path.join(PIQA_DIR, 'valid.jsonl'))
    assert [e.label for e in unlabelled] == [None] * 32
    assert [e.choices for e in unlabelled] == [e.choices for e in dev]

  def test_label_file_of_another_length(self, tmp_path):
    data = _write(tmp_path, 'x.jsonl', _jsonl(
        [{'goal': 'g', 'sol1': 'a', 'sol2': 'b'}] * 3))
    labels = _write(tmp_path, 'x-labels.lst', ['0', '1'])
    with pytest.raises(InputError) as e:
      mc.read_piqa(data, labels)
    assert_one_line(e, f'{data} has 3 lines', f'{labels} has 2 labels')

  def test_invalid_json(self, tmp_path):
    data = _write(tmp_path, 'x.jsonl', ['{"goal": "g", "sol1": "a", '
                                        '"sol2": "b"}', '{"goal": "g",'])
    with pytest.raises(InputError) as e:
      mc.read_piqa(data)
    assert_one_line(e, f'{data}:2: invalid JSON')

  def test_missing_key(self, tmp_path):
    data = _write(tmp_path, 'x.jsonl', _jsonl(
        [{'goal': 'g', 'sol1': 'a', 'sol2': 'b'}, {'goal': 'g', 'sol1': 'a'}]))
    with pytest.raises(InputError) as e:
      mc.read_piqa(data)
    assert_one_line(e, f"{data}:2: no 'sol2' key")

  def test_label_not_0_or_1(self, tmp_path):
    data = _write(tmp_path, 'x.jsonl', _jsonl(
        [{'goal': 'g', 'sol1': 'a', 'sol2': 'b'}] * 2))
    labels = _write(tmp_path, 'x-labels.lst', ['0', '2'])
    with pytest.raises(InputError) as e:
      mc.read_piqa(data, labels)
    assert_one_line(e, f"{labels}:2: label '2'")


class TestChoicesJsonl:

  def test_context_choices_layout(self, tmp_path):
    _write(tmp_path, 'dev.jsonl', _jsonl([
        {'id': 'q1', 'context': 'c', 'choices': ['a', 'b', 'c'], 'label': 2},
        {'context': 'd', 'choices': ['e', 'f', 'g'], 'label': 0}]))
    examples = mc.find_split(str(tmp_path), 'dev')
    assert examples == [mc.ChoiceExample('q1', 'c', ['a', 'b', 'c'], 2),
                        mc.ChoiceExample('line-2', 'd', ['e', 'f', 'g'], 0)]

  def test_hf_swag_layout(self, tmp_path):
    path = _write(tmp_path, 'train.jsonl', _jsonl([
        {'sent1': 'The cat sat.', 'sent2': 'It', 'ending0': 'ran.',
         'ending1': 'slept.', 'ending2': 'ate.', 'ending3': 'sat.',
         'label': 3}]))
    [example] = mc.read_choices_jsonl(path)
    assert example.context == 'The cat sat.'
    assert example.choices == ['It ran.', 'It slept.', 'It ate.', 'It sat.']
    assert example.label == 3

  def test_different_numbers_of_choices(self, tmp_path):
    path = _write(tmp_path, 'dev.jsonl', _jsonl([
        {'context': 'c', 'choices': ['a', 'b'], 'label': 0},
        {'context': 'c', 'choices': ['a', 'b', 'c'], 'label': 0}]))
    with pytest.raises(InputError) as e:
      mc.read_choices_jsonl(path)
    assert_one_line(e, f'{path}:2: 3 choices')

  def test_one_choice(self, tmp_path):
    path = _write(tmp_path, 'dev.jsonl', _jsonl(
        [{'context': 'c', 'choices': ['a'], 'label': 0}]))
    with pytest.raises(InputError) as e:
      mc.read_choices_jsonl(path)
    assert_one_line(e, f'{path}:1: 1 choices')

  @pytest.mark.parametrize('label', [2, -1, True, '1'])
  def test_label_outside_the_choices(self, tmp_path, label):
    path = _write(tmp_path, 'dev.jsonl', _jsonl(
        [{'context': 'c', 'choices': ['a', 'b'], 'label': label}]))
    with pytest.raises(InputError) as e:
      mc.read_choices_jsonl(path)
    assert_one_line(e, f'{path}:1: label')

  def test_labels_on_some_lines_only(self, tmp_path):
    path = _write(tmp_path, 'dev.jsonl', _jsonl([
        {'context': 'c', 'choices': ['a', 'b'], 'label': 1},
        {'context': 'c', 'choices': ['a', 'b']}]))
    with pytest.raises(InputError) as e:
      mc.read_choices_jsonl(path)
    assert_one_line(e, f'{path}:2: no label, unlike the example of line 1')

  def test_no_known_keys_and_no_file(self, tmp_path):
    path = _write(tmp_path, 'dev.jsonl', _jsonl([{'question': 'q'}]))
    with pytest.raises(InputError) as e:
      mc.read_choices_jsonl(path)
    assert_one_line(e, f'{path}:1: no "context"')
    with pytest.raises(InputError) as e:
      mc.find_split(str(tmp_path), 'train')
    assert_one_line(e, str(tmp_path), 'train.jsonl')


class TestFeaturize:

  def test_hand_example(self, tokenizer):
    examples = [mc.ChoiceExample('0', 'The cat', ['sat.', 'a mat'], 1),
                mc.ChoiceExample('1', 'a', ['zebra', 'on the mat'], None)]
    arrays, num_truncated = mc.featurize(examples, tokenizer, 8)
    assert num_truncated == 0
    np.testing.assert_array_equal(arrays['ids'], [
        [[2, 5, 6, 3, 7, 11, 3, 0], [2, 5, 6, 3, 10, 9, 3, 0]],
        [[2, 10, 3, 1, 3, 0, 0, 0], [2, 10, 3, 8, 5, 9, 3, 0]]])
    np.testing.assert_array_equal(arrays['segment_ids'], [
        [[0, 0, 0, 0, 1, 1, 1, 0], [0, 0, 0, 0, 1, 1, 1, 0]],
        [[0, 0, 0, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1, 1, 0]]])
    np.testing.assert_array_equal(arrays['input_mask'], [
        [[1, 1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1, 0]],
        [[1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 0]]])
    np.testing.assert_array_equal(arrays['label'], [1, -1])
    np.testing.assert_array_equal(arrays['example_index'], [0, 1])
    assert all(a.dtype == np.int32 for a in arrays.values())

  def test_truncation_pops_from_the_longer(self, tokenizer):
    examples = [mc.ChoiceExample('0', 'the cat sat on', ['a', 'the mat'], 0)]
    arrays, num_truncated = mc.featurize(examples, tokenizer, 7)
    assert num_truncated == 1
    np.testing.assert_array_equal(arrays['ids'], [[
        [2, 5, 6, 7, 3, 10, 3], [2, 5, 6, 3, 5, 9, 3]]])

  def test_real_slice_shapes(self, tokenizer):
    arrays, _ = mc.featurize(mc.find_split(PIQA_DIR, 'dev'), tokenizer, 32)
    assert arrays['ids'].shape == (32, 2, 32)
    assert arrays['label'].sum() == 18
