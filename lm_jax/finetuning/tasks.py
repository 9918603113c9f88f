"""The fine-tuning tasks: for each, how its files become model rows, which
objective trains it, how its outputs become the standard metrics and which
prediction files it writes.

Families: GLUE (`data_pipelines/tasks/glue.py`), CoNLL-2003 NER
(`conll.py`), SQuAD 1.1/2.0 (`squad.py`) and multiple choice
(`multiple_choice.py`); the metrics are `lm_jax/finetuning/metrics.py`.
Tasks are read from their official files (`data_dir`) or from TFDS
(`tfds_name`, `data_pipelines/tasks/tfds_tasks.py`) into the same examples.
A split is named as in the task's layout ('train', 'dev', 'testa', ...)
and may be sliced, 'dev[:80%]' or 'train[:1000]', e.g. to train SQuAD on
part of dev when no train file is at hand.
"""
import dataclasses
import functools
import json
import os
import re
from typing import Any, Callable

import numpy as np

from data_pipelines.tasks import (conll, files, glue, multiple_choice, squad,
                                  tfds_tasks)
from lm_jax.errors import InputError
from lm_jax.finetuning import metrics as metrics_lib


@dataclasses.dataclass
class Split:
  """One evaluation or test split: its examples, model rows and whatever
  mapping the metrics need to go from rows back to examples."""
  name: str
  examples: list
  arrays: dict  # name -> [num_rows, ...]
  extra: Any = None


@dataclasses.dataclass
class TaskData:
  train: dict  # the training rows' arrays
  evals: list  # [Split]: the first gives the bare metric names
  tests: list  # [Split]: predicted, not scored
  num_labels: int = 0
  num_choices: int = 0
  labels: Any = None  # tag strings (CoNLL)


@dataclasses.dataclass(frozen=True)
class Task:
  name: str
  objective: str  # a key of lm_jax.finetuning.objectives.OBJECTIVES
  main_metric: str  # the best checkpoint is the one with its highest value
  num_epochs: float  # the recipe's, when train.num_epochs is 0
  # (config, tokenizer, log, row=None): row, a RowTokens, replaces BERT's
  # [CLS]/[SEP] around the segments (GPT-1 transfer; GLUE and multiple
  # choice only)
  load: Callable[..., TaskData]
  metrics: Callable[..., dict]  # (data, split, outputs, config)
  write_predictions: Callable[..., None]  # (workdir, data, outputs by split, config)
  write_test_predictions: Callable[..., None]  # (workdir, data, split, outputs, config)
  # Whether dev rows carry training targets, so a dev loss means something
  # (SQuAD's dev windows carry none: every gold answer is scored instead).
  reports_loss: bool = True


# Slices of a split: 'dev[:80%]', 'train[100:]', 'dev[-500:]'.
_SPLIT = re.compile(r'^([\w-]+)(?:\[(-?\d*%?):(-?\d*%?)\])?$')


def parse_split(spec: str) -> tuple[str, Callable[[list], list]]:
  """(split name, examples -> the selected examples)."""
  match = _SPLIT.match(spec.strip())
  if not match:
    raise InputError(f'cannot read split {spec!r}; write e.g. dev, '
                     'dev[:80%] or train[:1000]')
  name, start, stop = match.groups()

  def bound(text, n):
    if not text:
      return None
    if text.endswith('%'):
      return round(float(text[:-1]) / 100 * n)
    return int(text)

  def select(items: list) -> list:
    return items[bound(start, len(items)):bound(stop, len(items))]

  return name, select


def _limit(examples: list, config, what: str) -> list:
  """The evaluation examples (at most data.max_eval_examples); none is an
  error rather than a score of nothing."""
  if not examples:
    raise InputError(f'no examples to evaluate in {what}')
  limit = config.data.max_eval_examples
  return examples[:limit] if limit else examples


def _require_dir(config) -> str:
  """The task files' folder; '' when the task is read from TFDS."""
  if config.tfds_name:
    return ''
  if not config.data_dir:
    raise InputError('set --config.data_dir to the folder of the task files '
                     '(or --config.tfds_name to a TFDS dataset)')
  if not os.path.isdir(config.data_dir) and '://' not in config.data_dir:
    raise InputError(f'data_dir {config.data_dir} is not a directory')
  return config.data_dir


def _write_jsonl(path: str, rows: list) -> None:
  files.write_text(path, ''.join(json.dumps(row, ensure_ascii=False) + '\n'
                                 for row in rows))



def _predictions_path(workdir: str, data: TaskData, split: Split,
                      extension: str) -> str:
  """predictions.EXT for the first eval split, predictions_<split>.EXT else."""
  suffix = '' if split is data.evals[0] else f'_{split.name}'
  return os.path.join(workdir, f'predictions{suffix}.{extension}')


def _encoders_only(what: str, row) -> None:
  if row is not None:
    raise InputError(f'{what} fine-tunes an encoder (ELECTRA, BERT family); '
                     'a causal LM transfers to GLUE and multiple choice')


# GLUE ----------------------------------------------------------------------


def _glue_path(spec: glue.GlueTask, data_dir: str, split: str) -> str | None:
  """The split's file in DIR itself (DIR = the task's folder) or in
  DIR/<TASK> (DIR = a whole GLUE download); None if neither has it."""
  names = (spec.split(split).file_name,)
  return (files.find_optional(data_dir, names) or
          files.find_optional(os.path.join(data_dir, spec.directory), names))


def _glue_load(spec: glue.GlueTask, config, tokenizer, log, row=None
               ) -> TaskData:
  data_dir = _require_dir(config)

  def read(name: str, labelled: bool, select=lambda x: x):
    if config.tfds_name:
      return select(tfds_tasks.read_glue(spec, config.tfds_name, name,
                                         config.tfds_data_dir))
    path = _glue_path(spec, data_dir, name)
    if path is None:
      raise InputError(f'{data_dir} has no {spec.name} {name} file '
                       f'({spec.split(name).file_name})')
    examples, skipped = glue.read_split(
        spec, path, labelled=labelled,
        skip_malformed=config.data.skip_malformed)
    if skipped:
      lines = ', '.join(map(str, skipped[:10]))
      more = ', ...' if len(skipped) > 10 else ''
      log(f'{path}: skipped {len(skipped)} malformed rows (lines {lines}'
          f'{more})')
    return select(examples)

  def featurize(examples, what):
    arrays, truncated = glue.featurize(examples, tokenizer,
                                       config.data.seq_len, task=spec, row=row)
    if truncated:
      log(f'{what}: {truncated:,} of {len(examples):,} examples truncated to '
          f'{config.data.seq_len} tokens')
    return arrays

  name, select = parse_split(config.data.train_split)
  train = read(name, True, select)
  if spec.double_unordered and config.objective.double_unordered:
    train = glue.double_unordered(train)
  name, select = parse_split(config.data.eval_split)
  eval_names = ([s.name for s in spec.eval_splits] if name == 'dev'
                else [name])
  evals = []
  for split_name in eval_names:
    examples = _limit(read(split_name, True, select), config,
                      f'{spec.name} {config.data.eval_split}')
    evals.append(Split(split_name, examples, featurize(examples, split_name)))
  tests = []
  if config.data.test_split:
    name, select = parse_split(config.data.test_split)
    for split in (spec.test_splits if name == 'test' else [spec.split(name)]):
      if not config.tfds_name and not _glue_path(spec, data_dir, split.name):
        log(f'No {spec.name} {split.name} file: no test predictions.')
        continue
      examples = read(split.name, False, select)
      tests.append(Split(split.name, examples, featurize(examples, split.name)))
  log(f'{spec.name}: {len(train):,} training examples, '
      + ', '.join(f'{len(s.examples):,} {s.name}' for s in evals + tests))
  return TaskData(train=featurize(train, 'train'), evals=evals, tests=tests,
                  num_labels=spec.num_labels)


def _glue_predicted(spec: glue.GlueTask, outputs: dict) -> np.ndarray:
  if spec.is_regression:
    return outputs['prediction']
  return np.argmax(outputs['logits'], -1)


def _glue_metrics(spec: glue.GlueTask, data, split: Split, outputs, config):
  del data, config
  gold = split.arrays['target' if spec.is_regression else 'label']
  return metrics_lib.classification_metrics(
      spec.metric, gold, _glue_predicted(spec, outputs))


def _glue_label(spec: glue.GlueTask, value):
  return float(value) if spec.is_regression else spec.labels[int(value)]


def _glue_write_predictions(spec, workdir, data, outputs, config):
  del config
  for split in data.evals:
    predicted = _glue_predicted(spec, outputs[split.name])
    _write_jsonl(_predictions_path(workdir, data, split, 'jsonl'), [
        {'guid': e.guid, 'label': _glue_label(spec, e.label),
         'prediction': _glue_label(spec, p)}
        for e, p in zip(split.examples, predicted)])


def _glue_write_test(spec, workdir, data, split, outputs, config):
  del data, config
  glue.write_submission(os.path.join(workdir, 'glue_submission'), spec.name,
                        split.name, [e.guid for e in split.examples],
                        _glue_predicted(spec, outputs))


def _glue_task(spec: glue.GlueTask) -> Task:
  bind = lambda f: functools.partial(f, spec)
  return Task(
      name=spec.name,
      objective='regression' if spec.is_regression else 'classification',
      main_metric=spec.main_metric,
      num_epochs=10.0 if spec.name in ('rte', 'stsb') else 3.0,  # ELECTRA
      load=bind(_glue_load), metrics=bind(_glue_metrics),
      write_predictions=bind(_glue_write_predictions),
      write_test_predictions=bind(_glue_write_test))


# CoNLL-2003 ----------------------------------------------------------------

_CONLL_FILES = {'train': ('eng.train', 'train.txt'),
                'testa': ('eng.testa', 'valid.txt', 'dev.txt'),
                'dev': ('eng.testa', 'valid.txt', 'dev.txt'),
                'testb': ('eng.testb', 'test.txt'),
                'test': ('eng.testb', 'test.txt')}


def _conll_read(config, name: str, tags=None) -> list:
  """The sentences of split `name`: its file in data_dir, or TFDS's."""
  if config.tfds_name:
    return tfds_tasks.read_conll(config.tfds_name, name, config.tfds_data_dir)
  return conll.read_conll(files.find(_require_dir(config), _CONLL_FILES.get(
      name, (name,)), f'CoNLL-2003 {name}'), tags)


def conll_tags(config) -> list[str]:
  """The tags a CoNLL-2003 run predicts, by class index: those of its
  training split, as `_conll_load` lists them."""
  name, select = parse_split(config.data.train_split)
  return conll.tag_list(select(_conll_read(config, name)))


def _conll_load(config, tokenizer, log, row=None) -> TaskData:
  _encoders_only('CoNLL-2003 tagging', row)
  data_dir = _require_dir(config)

  def featurize(sentences, what):
    arrays, num_split = conll.featurize(sentences, tokenizer,
                                        config.data.seq_len, tag_ids)
    if num_split:
      log(f'{what}: {num_split:,} sentences longer than '
          f'{config.data.seq_len} tokens continue in a second row')
    return arrays

  name, select = parse_split(config.data.train_split)
  train = select(_conll_read(config, name))
  tags = conll.tag_list(train)
  tag_ids = {t: i for i, t in enumerate(tags)}
  name, select = parse_split(config.data.eval_split)
  dev = _limit(select(_conll_read(config, name, tags)), config,
               config.data.eval_split)
  evals = [Split(name, dev, featurize(dev, name))]
  tests = []
  if config.data.test_split:
    name, select = parse_split(config.data.test_split)
    if config.tfds_name or files.find_optional(
        data_dir, _CONLL_FILES.get(name, (name,))):
      test = select(_conll_read(config, name, tags))
      tests.append(Split(name, test, featurize(test, name)))
    else:
      log(f'No CoNLL-2003 {name} file: no test predictions.')
  log(f'CoNLL-2003: {len(train):,} training sentences, {len(dev):,} '
      f'{evals[0].name}, tags {" ".join(tags)}')
  return TaskData(train=featurize(train, 'train'), evals=evals, tests=tests,
                  num_labels=len(tags), labels=tags)


def _conll_predicted(data, split, outputs):
  return conll.assemble(split.examples, split.arrays['example_index'],
                        split.arrays['word_index'], outputs['predicted_tags'],
                        data.labels)


def _conll_metrics(data, split, outputs, config):
  del config
  scores = metrics_lib.entity_scores([s.tags for s in split.examples],
                                     _conll_predicted(data, split, outputs))
  per_type = scores.pop('per_type')
  for entity, figures in per_type.items():
    scores.update({f'{entity}_{k}': v for k, v in figures.items()})
  return scores


def _conll_write_predictions(workdir, data, outputs, config):
  del config
  for split in data.evals:
    conll.write_predictions(_predictions_path(workdir, data, split, 'txt'),
                            split.examples,
                            _conll_predicted(data, split, outputs[split.name]))


def _conll_write_test(workdir, data, split, outputs, config):
  del config
  conll.write_predictions(os.path.join(workdir, f'{split.name}_predictions.txt'),
                          split.examples,
                          _conll_predicted(data, split, outputs))


# SQuAD ---------------------------------------------------------------------


def _squad_load(version: str, config, tokenizer, log, row=None) -> TaskData:
  _encoders_only('SQuAD', row)
  data_dir = _require_dir(config)

  def featurize(examples, training, what):
    features = squad.featurize(
        examples, tokenizer, seq_len=config.data.seq_len,
        doc_stride=config.data.doc_stride,
        max_query_length=config.data.max_query_length, training=training)
    if features.skipped:
      log(f'{what}: {features.skipped_summary()}')
    return features

  def read(name):
    if config.tfds_name:
      return tfds_tasks.read_squad(config.tfds_name, name,
                                   config.tfds_data_dir)
    return squad.read_squad(squad.find_split(data_dir, name, version))

  name, select = parse_split(config.data.train_split)
  train = select(read(name))
  train_features = featurize(train, True, 'train')
  name, select = parse_split(config.data.eval_split)
  dev = _limit(select(read(name)), config, config.data.eval_split)
  dev_features = featurize(dev, False, name)
  log(f'SQuAD {version}: {len(train):,} training questions '
      f'({len(train_features.arrays["ids"]):,} windows), {len(dev):,} {name} '
      f'({len(dev_features.arrays["ids"]):,} windows)')
  return TaskData(train=train_features.arrays,
                  evals=[Split(name, dev, dev_features.arrays, dev_features)],
                  tests=[])


def _squad_decode(version: str, split: Split, outputs, config):
  return squad.decode(
      split.examples, split.extra, outputs['start_logits'],
      outputs['end_logits'], n_best=config.objective.n_best,
      max_answer_length=config.objective.max_answer_length,
      version_2=version == '2.0')


def _squad_answers(version, split, outputs, config):
  """(answers after the null threshold, best non-null answers, null - best
  scores, n-best lists), from one decoding."""
  raw, null_minus_best, nbest = _squad_decode(version, split, outputs, config)
  predictions = raw
  if version == '2.0':
    predictions = metrics_lib.apply_null_threshold(
        raw, null_minus_best, config.objective.null_threshold)
  return predictions, raw, null_minus_best, nbest


def squad_answers(task_name: str, split: Split, outputs: dict, config):
  """`_squad_answers` of task 'squad' or 'squad_v2': the decoding of its
  metrics and prediction files, for questions outside its splits."""
  return _squad_answers(_SQUAD_VERSIONS[task_name], split, outputs, config)


def _squad_metrics(version, data, split, outputs, config):
  del data
  predictions, raw, null_minus_best, _ = _squad_answers(version, split,
                                                        outputs, config)
  golds = {e.qid: list(e.answers) for e in split.examples}
  scores = metrics_lib.squad_scores(predictions, golds)
  if version == '2.0':
    scores.update(metrics_lib.best_null_threshold(raw, null_minus_best, golds))
  return scores


def _squad_write_predictions(version, workdir, data, outputs, config):
  for split in data.evals:
    predictions, _, null_minus_best, nbest = _squad_answers(
        version, split, outputs[split.name], config)
    files.write_json(_predictions_path(workdir, data, split, 'json'),
                     predictions)
    files.write_json(os.path.join(workdir, 'nbest_predictions.json'), nbest)
    if version == '2.0':
      files.write_json(os.path.join(workdir, 'null_odds.json'), {
          k: float(v) for k, v in null_minus_best.items()})


_SQUAD_VERSIONS = {'squad': '1.1', 'squad_v2': '2.0'}


def _squad_task(name: str, version: str) -> Task:
  bind = lambda f: functools.partial(f, version)
  return Task(name=name, objective='span_qa', main_metric='f1',
              num_epochs=2.0, reports_loss=False, load=bind(_squad_load),
              metrics=bind(_squad_metrics),
              write_predictions=bind(_squad_write_predictions),
              write_test_predictions=lambda *args: None)


# Multiple choice -----------------------------------------------------------


def _choice_load(config, tokenizer, log, row=None) -> TaskData:
  data_dir = _require_dir(config)

  def read(spec):
    name, select = parse_split(spec)
    if config.tfds_name:
      return name, select(tfds_tasks.read_choices(
          config.tfds_name, name, config.tfds_data_dir))
    return name, select(multiple_choice.find_split(data_dir, name))

  def featurize(examples, what):
    arrays, truncated = multiple_choice.featurize(examples, tokenizer,
                                                  config.data.seq_len, row)
    if truncated:
      log(f'{what}: {truncated:,} of {len(examples):,} examples truncated to '
          f'{config.data.seq_len} tokens')
    return arrays

  _, train = read(config.data.train_split)
  name, dev = read(config.data.eval_split)
  dev = _limit(dev, config, config.data.eval_split)
  choices = {len(train[0].choices), len(dev[0].choices)}
  if len(choices) != 1:
    raise InputError(f'train and {name} have different numbers of choices '
                     f'({sorted(choices)})')
  tests = []
  test_name = parse_split(config.data.test_split)[0] if (
      config.data.test_split) else ''
  if test_name and (config.tfds_name or files.find_optional(
      data_dir, multiple_choice.split_files(test_name))):
    _, test = read(config.data.test_split)
    tests.append(Split(test_name, test, featurize(test, test_name)))
  log(f'{config.task}: {len(train):,} training examples, {len(dev):,} {name}, '
      f'{choices.pop()} choices each')
  train_arrays = featurize(train, 'train')
  return TaskData(train=train_arrays, evals=[Split(name, dev,
                                                   featurize(dev, name))],
                  tests=tests, num_choices=train_arrays['ids'].shape[1])


def _choice_metrics(data, split, outputs, config):
  del data, config
  return {'accuracy': metrics_lib.accuracy(
      split.arrays['label'], np.argmax(outputs['logits'], -1))}


def _choice_rows(split, outputs):
  predicted = np.argmax(outputs['logits'], -1)
  return [{'guid': e.guid, 'label': e.label, 'prediction': int(p),
           'scores': [float(s) for s in scores]}
          for e, p, scores in zip(split.examples, predicted,
                                  outputs['logits'])]


def _choice_write_predictions(workdir, data, outputs, config):
  del config
  for split in data.evals:
    _write_jsonl(_predictions_path(workdir, data, split, 'jsonl'),
                 _choice_rows(split, outputs[split.name]))


def _choice_write_test(workdir, data, split, outputs, config):
  del data, config
  _write_jsonl(os.path.join(workdir, f'{split.name}_predictions.jsonl'),
               _choice_rows(split, outputs))


def _choice_task(name: str) -> Task:
  return Task(name=name, objective='multiple_choice', main_metric='accuracy',
              num_epochs=3.0, load=_choice_load, metrics=_choice_metrics,
              write_predictions=_choice_write_predictions,
              write_test_predictions=_choice_write_test)


TASKS = {
    **{name: _glue_task(spec) for name, spec in glue.TASKS.items()},
    'conll2003': Task(
        name='conll2003', objective='tagging', main_metric='f1',
        num_epochs=3.0, load=_conll_load, metrics=_conll_metrics,
        write_predictions=_conll_write_predictions,
        write_test_predictions=_conll_write_test),
    **{name: _squad_task(name, version)
       for name, version in _SQUAD_VERSIONS.items()},
    'piqa': _choice_task('piqa'),
    'swag': _choice_task('swag'),
}


def names() -> list[str]:
  return sorted(TASKS)


def get(name: str) -> Task:
  key = name.lower().replace('-', '')
  if key not in TASKS:
    raise InputError(f'unknown task {name!r}; known: {", ".join(names())}')
  return TASKS[key]
