"""Tests for data_pipelines.tasks.tfds_tasks: fine-tuning examples from TFDS.

Nothing is downloaded. `tfds.testing.mock_data` builds each real builder
(glue, conll2003, squad, piqa, hellaswag) from its code, so the features, class
names and feature names are TFDS's own. Most tests serve chosen rows through
its `as_dataset_fn`, encoded by the builder's features as TFDS stores them (a
class label may be given by name, e.g. MNLI's 'entailment'), and record the
split names TFDS is asked for. Random mock rows suit only some builders: a
mocked conll2003 row has as many `ner` tags as it likes, whatever its tokens.

Mocked builders know no split names, so the unknown-split check runs on a tiny
builder really prepared in a temporary data dir. TFDS has no SWAG builder; its
layout is tested on a test-only builder with the SWAG export's features.
"""
import contextlib

import numpy as np
import pytest

from data_pipelines import tf_cpu
from data_pipelines.tasks import conll
from data_pipelines.tasks import glue
from data_pipelines.tasks import multiple_choice
from data_pipelines.tasks import squad
from data_pipelines.tasks import tfds_tasks
from lm_jax.errors import InputError

tf = tf_cpu.tf()  # First, so that TF never claims an accelerator.
import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top


class LmJaxTestSwag(tfds.core.GeneratorBasedBuilder):
  """Features of the SWAG export ('regular' config); only ever mocked."""
  VERSION = tfds.core.Version('1.0.0')

  def _info(self):
    text = tfds.features.Text()
    return tfds.core.DatasetInfo(builder=self, features=(
        tfds.features.FeaturesDict(dict(
            sent1=text, sent2=text, ending0=text, ending1=text, ending2=text,
            ending3=text,
            label=tfds.features.ClassLabel(names=['0', '1', '2', '3'])))))

  def _split_generators(self, dl_manager):
    raise NotImplementedError

  def _generate_examples(self):
    raise NotImplementedError


class LmJaxTestSst2(tfds.core.GeneratorBasedBuilder):
  """A tiny SST-2 lookalike, to prepare for real."""
  VERSION = tfds.core.Version('1.0.0')

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=(
        tfds.features.FeaturesDict(dict(
            sentence=tfds.features.Text(), idx=np.int32,
            label=tfds.features.ClassLabel(names=['negative', 'positive'])))))

  def _split_generators(self, dl_manager):
    return {'train': self._generate_examples([1, 0]),
            'validation': self._generate_examples([1]),
            'test': self._generate_examples([-1])}

  def _generate_examples(self, labels):
    for i, label in enumerate(labels):
      yield i, dict(sentence=f'sentence {i}', idx=i, label=label)


def _tensors(value, spec):
  """An encoded example as tensors of the builder's tensor spec."""
  if isinstance(spec, dict):
    return {key: _tensors(value[key], spec[key]) for key in spec}
  return tf.constant(np.asarray(value).tolist(), spec.tf_dtype)


@contextlib.contextmanager
def _serving(rows_by_split):
  """Mocks TFDS to serve these rows per TFDS split name; yields the list of
  split names asked for."""
  requested = []

  def as_dataset(builder, split, **unused_kwargs):
    requested.append(split)
    features = builder.info.features
    spec = features.get_tensor_info()
    examples = [_tensors(features.encode_example(row), spec)
                for row in rows_by_split[split]]
    dataset = tf.data.Dataset.from_tensors(examples[0])
    for example in examples[1:]:
      dataset = dataset.concatenate(tf.data.Dataset.from_tensors(example))
    return dataset

  with tfds.testing.mock_data(as_dataset_fn=as_dataset):
    yield requested


class TestGlue:

  def test_mnli_labels_map_by_name(self):
    # TFDS orders MNLI's classes entailment, neutral, contradiction; ours
    # (BERT's) is contradiction, entailment, neutral.
    rows = [dict(premise='Un été', hypothesis='b', label=name, idx=i)
            for i, name in enumerate(['entailment', 'neutral',
                                      'contradiction'])]
    with _serving({'validation_matched': rows}) as requested:
      examples = tfds_tasks.read_glue(glue.TASKS['mnli'], 'glue/mnli',
                                      'matched')
    assert requested == ['validation_matched']
    assert examples == [glue.PairExample('0', 'Un été', 'b', 1),
                        glue.PairExample('1', 'Un été', 'b', 2),
                        glue.PairExample('2', 'Un été', 'b', 0)]

  @pytest.mark.parametrize('task, tfds_label, label', [
      ('sst2', 'positive', 1), ('cola', 'unacceptable', 0),
      ('mrpc', 'equivalent', 1), ('qqp', 'not_duplicate', 0),
      ('wnli', 'entailment', 1),  # GLUE's WNLI files: 1 is entailment.
      ('rte', 'not_entailment', 1), ('qnli', 'entailment', 0),
  ])
  def test_binary_labels_mean_what_the_files_mean(self, task, tfds_label,
                                                  label):
    text_features = tfds_tasks._GLUE_TEXT_FEATURES[task]
    row = dict({name: 'text' for name in text_features}, label=tfds_label,
               idx=3)
    with _serving({'validation': [row]}) as requested:
      (example,) = tfds_tasks.read_glue(glue.TASKS[task], f'glue/{task}',
                                        'dev')
    assert requested == ['validation']
    assert example.label == label
    assert glue.TASKS[task].labels[label] in {
        'sst2': '1', 'cola': '0', 'mrpc': '1', 'qqp': '0', 'wnli': '1',
        'rte': 'not_entailment', 'qnli': 'entailment'}[task]

  def test_unlabelled_test_rows_are_none(self):
    mnli_row = dict(premise='a', hypothesis='b', label=-1, idx=5)
    with _serving({'test_mismatched': [mnli_row]}) as requested:
      (example,) = tfds_tasks.read_glue(glue.TASKS['mnli'], 'glue/mnli',
                                        'test_mismatched')
    assert requested == ['test_mismatched']
    assert example == glue.PairExample('5', 'a', 'b', None)
    stsb_rows = {'validation': [dict(sentence1='a', sentence2='b', label=3.25,
                                     idx=0)],
                 'test': [dict(sentence1='a', sentence2='b', label=-1.0,
                               idx=0)]}
    with _serving(stsb_rows):
      dev = tfds_tasks.read_glue(glue.TASKS['stsb'], 'glue/stsb', 'dev')
      test = tfds_tasks.read_glue(glue.TASKS['stsb'], 'glue/stsb', 'test')
    assert dev[0].label == 3.25 and isinstance(dev[0].label, float)
    assert test[0].label is None

  @pytest.mark.parametrize('task', sorted(glue.TASKS))
  def test_random_mock_rows_of_every_task(self, task):
    with tfds.testing.mock_data(num_examples=3):
      examples = tfds_tasks.read_glue(glue.TASKS[task], f'glue/{task}',
                                      'train')
    assert len(examples) == 3
    for e in examples:
      assert isinstance(e, glue.PairExample)
      assert isinstance(e.guid, str) and isinstance(e.text_a, str)
      assert isinstance(e.text_b, str) == glue.TASKS[task].is_pair
      if task == 'stsb':
        assert isinstance(e.label, float)
      else:
        assert e.label in range(glue.TASKS[task].num_labels)

  def test_other_dataset_labels_are_refused(self):
    # MRPC has WNLI's features, but its classes are not WNLI's.
    with tfds.testing.mock_data():
      with pytest.raises(InputError, match="'glue/mrpc' has labels "
                         'not_equivalent, equivalent; GLUE task wnli '
                         'expects not_entailment, entailment'):
        tfds_tasks.read_glue(glue.TASKS['wnli'], 'glue/mrpc', 'train')
      with pytest.raises(InputError, match="'glue/rte' has no feature "
                         "'premise', 'hypothesis', which GLUE task mnli"):
        tfds_tasks.read_glue(glue.TASKS['mnli'], 'glue/rte', 'train')


def test_conll_tags_are_iob2_strings():
  def row(words, tags):
    return dict(tokens=words, ner=tags, pos=['NN'] * len(words),
                chunks=['O'] * len(words))

  rows = [row(['EU', 'rejects', 'German'], ['B-ORG', 'O', 'B-MISC']),
          row([], []),  # What TFDS yields after a file's last blank line.
          row(['in', 'Köln', 'Bonn'], ['O', 'I-LOC', 'B-LOC'])]  # IOB1
  with _serving({'dev': rows, 'test': rows[:1]}) as requested:
    dev = tfds_tasks.read_conll('conll2003', 'testa')
    test = tfds_tasks.read_conll('conll2003', 'testb')
  assert requested == ['dev', 'test']
  assert dev == [
      conll.TaggedSentence(['EU', 'rejects', 'German'],
                           ['B-ORG', 'O', 'B-MISC'], 0),
      conll.TaggedSentence(['in', 'Köln', 'Bonn'], ['O', 'B-LOC', 'B-LOC'],
                           2)]
  assert test == dev[:1]


class TestSquad:

  def test_v1_answers_and_starts_are_lists(self):
    rows = [dict(id='q1', title='t', context='Paris is in France.',
                 question='Where?', answers=dict(text=['France', 'France.'],
                                                 answer_start=[12, 12])),
            dict(id='q2', title='t', context='c', question='Who?',
                 answers=dict(text=[], answer_start=[]))]
    with _serving({'validation': rows}) as requested:
      examples = tfds_tasks.read_squad('squad/v1.1', 'dev')
    assert requested == ['validation']
    assert examples == [
        squad.SquadExample('q1', 'Where?', 'Paris is in France.',
                           ['France', 'France.'], [12, 12], False),
        # No is_impossible feature in v1.1: no answer means impossible.
        squad.SquadExample('q2', 'Who?', 'c', [], [], True)]

  def test_v2_reads_is_impossible(self):
    no_answers = dict(text=[], answer_start=[])
    rows = [dict(id='q1', title='t', context='c', question='q',
                 answers=no_answers, is_impossible=True,
                 plausible_answers=dict(text=['c'], answer_start=[0])),
            dict(id='q2', title='t', context='c', question='q',
                 answers=dict(text=['c'], answer_start=[0]),
                 is_impossible=False, plausible_answers=no_answers)]
    with _serving({'train': rows}):
      examples = tfds_tasks.read_squad('squad/v2.0', 'train')
    assert [(e.qid, e.answers, e.is_impossible) for e in examples] == [
        ('q1', [], True), ('q2', ['c'], False)]


class TestChoices:

  def test_piqa_has_two_choices(self):
    rows = [dict(id='p0', goal='Open a jar', sol1='twist', sol2='bite',
                 label=0),
            dict(id='p1', goal='g', sol1='a', sol2='b', label=1)]
    with _serving({'validation': rows}) as requested:
      examples = tfds_tasks.read_choices('piqa', 'valid')
    assert requested == ['validation']
    assert examples == [
        multiple_choice.ChoiceExample('p0', 'Open a jar', ['twist', 'bite'],
                                      0),
        multiple_choice.ChoiceExample('p1', 'g', ['a', 'b'], 1)]

  def test_hellaswag_endings_and_unlabelled_rows(self):
    row = dict(context='A man', endings=['runs', 'sits', 'eats', 'sleeps'],
               activity_label='a', label=-1, split_type='s', source_id='x')
    with _serving({'test': [row]}):
      (example,) = tfds_tasks.read_choices('hellaswag', 'test')
    assert example == multiple_choice.ChoiceExample(
        '0', 'A man', ['runs', 'sits', 'eats', 'sleeps'], None)

  def test_swag_layout(self):
    row = dict(sent1='She opens the door.', sent2='She', ending0='leaves.',
               ending1='sings.', ending2='waits.', ending3='jumps.', label=2)
    with _serving({'validation': [row]}):
      (example,) = tfds_tasks.read_choices('lm_jax_test_swag', 'dev')
    assert example == multiple_choice.ChoiceExample(
        '0', 'She opens the door.',
        ['She leaves.', 'She sings.', 'She waits.', 'She jumps.'], 2)


@pytest.fixture(scope='module')
def prepared_data_dir(tmp_path_factory) -> str:
  """A data dir holding LmJaxTestSst2 prepared for real: its split names are
  known, as they are for real data."""
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  LmJaxTestSst2(data_dir=data_dir).download_and_prepare()
  return data_dir


class TestPreparedData:

  def test_reads_the_translated_split(self, prepared_data_dir):
    sst2 = glue.TASKS['sst2']
    dev = tfds_tasks.read_glue(sst2, 'lm_jax_test_sst2', 'dev',
                               prepared_data_dir)
    test = tfds_tasks.read_glue(sst2, 'lm_jax_test_sst2', 'test',
                                prepared_data_dir)
    assert dev == [glue.PairExample('0', 'sentence 0', None, 1)]
    assert test == [glue.PairExample('0', 'sentence 0', None, None)]

  def test_unknown_split_names_the_splits(self, prepared_data_dir):
    with pytest.raises(InputError) as e:
      tfds_tasks.read_glue(glue.TASKS['sst2'], 'lm_jax_test_sst2', 'matched',
                           prepared_data_dir)
    assert str(e.value) == (
        "TFDS dataset 'lm_jax_test_sst2' has no split 'matched' (looked for "
        'validation_matched, matched); its splits are test, train, '
        'validation')

  def test_dataset_not_prepared_is_one_line(self, tmp_path):
    with pytest.raises(InputError) as e:
      tfds_tasks.read_conll('conll2003', 'train', str(tmp_path))
    message = str(e.value)
    assert '\n' not in message
    assert message.startswith(f"TFDS dataset 'conll2003' is not prepared in "
                              f'data dir {tmp_path}: prepare it first')
    assert f'tfds build conll2003 --data_dir={tmp_path}' in message

  def test_unknown_dataset_is_one_line(self):
    with pytest.raises(InputError, match="cannot load TFDS dataset "
                       "'no_such_task'") as e:
      tfds_tasks.read_squad('no_such_task', 'train')
    assert '\n' not in str(e.value)
