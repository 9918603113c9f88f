"""Fine-tuning examples read from TensorFlow Datasets instead of task files.

A config may name a TFDS dataset (`tfds_name=glue/sst2`) where it would name a
data dir. The readers here turn one TFDS split into the very examples the file
readers return (`glue.PairExample`, `conll.TaggedSentence`,
`squad.SquadExample`, `multiple_choice.ChoiceExample`), so featurising,
training, scoring and submission files are one code path for both sources.

Datasets are read, never downloaded: fine-tuning hosts often have no network,
and a download would stall every host's start-up. A dataset must be
prepared beforehand (`tfds build <name> --data_dir=<dir>`, or
`tfds.load(..., download=True)` on a machine with network); one that is not is
an `InputError` saying so.

Splits are named as for the task files ('train', 'dev', MNLI's 'matched',
CoNLL's 'testa', ...) and translated to the builder's names ('validation',
'validation_matched', 'dev', ...); a name the builder has as it is (say
'validation') is also accepted. Slices such as 'dev[:80%]' are the caller's.

Labels keep the files' meaning. TFDS stores GLUE's 0/1 labels as class
indices with word names (SST-2's 'negative'/'positive'), so those map by index;
where the files write the label as a word (MNLI, QNLI, RTE) they map by name,
since TFDS orders MNLI's classes differently from BERT's order used here.
Unlabelled test rows (TFDS's label -1) get the label None, as in test files.
"""
import re
from typing import Any, Iterator, Optional, Sequence, Union

from data_pipelines.tasks import conll
from data_pipelines.tasks import glue
from data_pipelines.tasks import multiple_choice
from data_pipelines.tasks import squad
from data_pipelines.tf_cpu import tf as tf_module
from lm_jax.errors import InputError

# TFDS's label of an unlabelled (test) row, for class and score alike.
_UNLABELLED = -1

# Project split name -> the builder's names for it, in order of preference. A
# name missing here, or absent from a prepared builder's splits under its
# aliases, is looked up as it is.
_GLUE_SPLITS = {
    'dev': ('validation',),
    'matched': ('validation_matched',),
    'mismatched': ('validation_mismatched',),
}
# TFDS's conll2003 calls its dev split 'dev'; other CoNLL-style builders may
# say 'validation'. CoNLL-2003's own names are testa (dev) and testb (test).
_CONLL_SPLITS = {
    'dev': ('dev', 'validation'),
    'valid': ('dev', 'validation'),
    'validation': ('validation', 'dev'),
    'testa': ('dev', 'validation'),
    'testb': ('test',),
}
_SQUAD_SPLITS = {'dev': ('validation',)}
_CHOICE_SPLITS = {'dev': ('validation',), 'valid': ('validation',),
                  'val': ('validation',)}

# The TFDS features holding sentences A (and B) of each GLUE task: TFDS names
# them itself, not after the files' header columns.
_GLUE_TEXT_FEATURES = {
    'cola': ('sentence',),
    'sst2': ('sentence',),
    'mrpc': ('sentence1', 'sentence2'),
    'stsb': ('sentence1', 'sentence2'),
    'qqp': ('question1', 'question2'),
    'mnli': ('premise', 'hypothesis'),
    'qnli': ('question', 'sentence'),
    'rte': ('sentence1', 'sentence2'),
    'wnli': ('sentence1', 'sentence2'),
}

# TFDS's class names for the tasks whose files label with 0 and 1. TFDS reads
# a file's '1' as class index 1, so the index is the file's label and ours
# alike; the names only say what 1 means (in WNLI, as in GLUE, entailment).
# They are checked so that another labelling is an error, not a silent flip.
_GLUE_INDEX_LABELS = {
    'cola': ('unacceptable', 'acceptable'),
    'sst2': ('negative', 'positive'),
    'mrpc': ('not_equivalent', 'equivalent'),
    'qqp': ('not_duplicate', 'duplicate'),
    'wnli': ('not_entailment', 'entailment'),
}

_TAG = re.compile(r'O|[BI]-\S+')


def read_glue(task: glue.GlueTask, tfds_name: str, split: str,
              data_dir: str = '') -> list[glue.PairExample]:
  """The examples of a GLUE split from TFDS (`glue/sst2`, `glue/mnli`, ...).

  Args:
    task: the GLUE task the examples are for.
    tfds_name: the TFDS dataset, e.g. 'glue/mnli'.
    split: 'train', 'dev', MNLI's 'matched'/'mismatched', 'test', MNLI's
      'test_matched'/'test_mismatched', or a TFDS split name.
    data_dir: the TFDS data dir; '' for TFDS's default.

  Returns:
    One PairExample per row: guid is TFDS's `idx` (the row's index in GLUE's
    file, which a test submission needs back), label a class index of `task`,
    STS-B's float score, or None for an unlabelled row.
  """
  features, examples, where = _load(tfds_name, split, data_dir, _GLUE_SPLITS)
  text_features = _GLUE_TEXT_FEATURES[task.name]
  _require(features, text_features + ('label', 'idx'), tfds_name,
           f'GLUE task {task.name}')
  label_map = _glue_label_map(task, features['label'], tfds_name)
  pairs = []
  for index, example in enumerate(examples):
    here = f'{where} example {index}'
    texts = [_text(example[name], f'{here} {name}') for name in text_features]
    pairs.append(glue.PairExample(
        str(int(example['idx'])), texts[0],
        texts[1] if task.is_pair else None,
        _glue_label(example['label'], label_map, here)))
  return _non_empty(pairs, where)


def read_conll(tfds_name: str, split: str,
               data_dir: str = '') -> list[conll.TaggedSentence]:
  """The sentences of a CoNLL-style TFDS split (`conll2003`), tags in IOB2.

  Words are the `tokens` feature, tags the names of the `ner` classes (other
  tag features, such as part of speech, are not read); a sentence's `line` is
  its example's index in the split. Examples without tokens are skipped: the
  TFDS CoNLL builder yields one at the end of a file that ends in a blank line.
  """
  features, examples, where = _load(tfds_name, split, data_dir, _CONLL_SPLITS)
  _require(features, ('tokens', 'ner'), tfds_name, 'named entities')
  tag_names = getattr(getattr(features['ner'], 'feature', None), 'names', None)
  if tag_names is None:
    raise InputError(f'TFDS dataset {tfds_name!r}: feature "ner" is not a '
                     f'sequence of class labels ({features["ner"]})')
  bad = [name for name in tag_names if not _TAG.fullmatch(name)]
  if bad:
    raise InputError(f'TFDS dataset {tfds_name!r}: ner tags {bad} are not O, '
                     'B-X or I-X')
  sentences = []
  for index, example in enumerate(examples):
    here = f'{where} example {index}'
    words = [_text(word, f'{here} tokens') for word in example['tokens']]
    tags = [tag_names[i] for i in example['ner']]
    if len(words) != len(tags):
      raise InputError(f'{here}: {len(words)} tokens but {len(tags)} ner '
                       'tags')
    if words:
      # The file reader's IOB1-to-IOB2 rule, so that both sources give the
      # model one tagging scheme (a no-op on IOB2 data).
      iob2_tags = conll.to_iob2(tags)
      sentences.append(conll.TaggedSentence(words, iob2_tags, index))
  return _non_empty(sentences, where)


def read_squad(tfds_name: str, split: str,
               data_dir: str = '') -> list[squad.SquadExample]:
  """The questions of a SQuAD TFDS split (`squad/v1.1`, `squad/v2.0`).

  `is_impossible` is the feature of that name where the builder has one (2.0),
  otherwise whether the question has no answer. SQuAD 2.0's
  `plausible_answers` are not read, as in the file reader.
  """
  features, examples, where = _load(tfds_name, split, data_dir, _SQUAD_SPLITS)
  _require(features, ('id', 'question', 'context', 'answers'), tfds_name,
           'SQuAD')
  questions = []
  for index, example in enumerate(examples):
    here = f'{where} example {index}'
    answers = example['answers']
    texts = [_text(text, f'{here} answers') for text in answers['text']]
    starts = [int(start) for start in answers['answer_start']]
    is_impossible = (bool(example['is_impossible'])
                     if 'is_impossible' in example else not texts)
    questions.append(squad.SquadExample(
        _text(example['id'], f'{here} id'),
        _text(example['question'], f'{here} question'),
        _text(example['context'], f'{here} context'),
        texts, starts, is_impossible))
  return _non_empty(questions, where)


def read_choices(tfds_name: str, split: str,
                 data_dir: str = '') -> list[multiple_choice.ChoiceExample]:
  """The examples of a multiple-choice TFDS split.

  The layout is told by the features, as the jsonl reader tells it by keys:
    `goal`, `sol1`, `sol2` (TFDS's `piqa`);
    `context` and a sequence of `endings` (TFDS's `hellaswag`);
    `sent1`, optional `sent2`, `ending0`..`ending<C-1>` (SWAG's layout, e.g.
      the Hugging Face export read through TFDS; each choice is
      `sent2 + ' ' + ending`, as in the jsonl reader).
  The label is the `label` feature (None where it is -1 or absent); the guid
  the `id` feature where there is one, else the example's index.
  """
  features, examples, where = _load(tfds_name, split, data_dir,
                                    _CHOICE_SPLITS)
  choose = _choice_layout(features, tfds_name)
  result = []
  for index, example in enumerate(examples):
    here = f'{where} example {index}'
    context, choices = choose(example, here)
    if result and len(choices) != len(result[0].choices):
      # A batch is one [N, C, L] array: C must not change.
      raise InputError(f'{here}: {len(choices)} choices, but example 0 has '
                       f'{len(result[0].choices)}')
    if len(choices) < 2:
      raise InputError(f'{here}: {len(choices)} choices; an example needs at '
                       'least 2')
    label = None
    if 'label' in example and int(example['label']) != _UNLABELLED:
      label = int(example['label'])
      if not 0 <= label < len(choices):
        raise InputError(f'{here}: label {label} is not a choice index in '
                         f'[0, {len(choices)})')
    guid = (_text(example['id'], f'{here} id') if 'id' in example
            else str(index))
    result.append(multiple_choice.ChoiceExample(guid, context, choices,
                                                label))
  return _non_empty(result, where)


def _choice_layout(features: Any, tfds_name: str):
  """The function (example, where) -> (context, choices) of the features."""
  if 'goal' in features:
    _require(features, ('sol1', 'sol2'), tfds_name, 'PIQA')
    return lambda ex, here: (_text(ex['goal'], f'{here} goal'),
                             [_text(ex['sol1'], f'{here} sol1'),
                              _text(ex['sol2'], f'{here} sol2')])
  if 'endings' in features:
    _require(features, ('context',), tfds_name, 'HellaSwag')
    return lambda ex, here: (_text(ex['context'], f'{here} context'),
                             [_text(e, f'{here} endings')
                              for e in ex['endings']])
  if 'sent1' in features:
    num_endings = 0
    while f'ending{num_endings}' in features:
      num_endings += 1
    has_prefix = 'sent2' in features

    def swag(ex, here):
      prefix = _text(ex['sent2'], f'{here} sent2') if has_prefix else ''
      endings = [_text(ex[f'ending{k}'], f'{here} ending{k}')
                 for k in range(num_endings)]
      return (_text(ex['sent1'], f'{here} sent1'),
              [f'{prefix} {e}' if prefix else e for e in endings])

    return swag
  raise InputError(f'TFDS dataset {tfds_name!r} is not a multiple-choice '
                   'layout read here (goal/sol1/sol2, context/endings or '
                   f'sent1/ending0..); it has {sorted(features)}')


def _glue_label_map(task: glue.GlueTask, label_feature: Any,
                    tfds_name: str) -> Optional[list[int]]:
  """Our class index of each TFDS class index; None for STS-B's score."""
  if task.is_regression:
    return None
  names = getattr(label_feature, 'names', None)
  if names is None:
    raise InputError(f'TFDS dataset {tfds_name!r}: "label" is not a class '
                     f'label, as GLUE task {task.name} needs')
  names = tuple(names)
  if task.name in _GLUE_INDEX_LABELS:
    expected = _GLUE_INDEX_LABELS[task.name]
    if names != expected:
      raise InputError(
          f'TFDS dataset {tfds_name!r} has labels {", ".join(names)}; GLUE '
          f'task {task.name} expects {", ".join(expected)}')
    return list(range(len(names)))
  unknown = [name for name in names if name not in task.labels]
  if unknown:
    raise InputError(
        f'TFDS dataset {tfds_name!r} has labels {", ".join(unknown)} that '
        f'GLUE task {task.name} lacks ({", ".join(task.labels)})')
  return [task.labels.index(name) for name in names]


def _glue_label(value: Any, label_map: Optional[Sequence[int]],
                where: str) -> Union[int, float, None]:
  """A row's label: our class index, a float score, or None if unlabelled."""
  if label_map is None:
    score = float(value)
    return None if score == _UNLABELLED else score
  index = int(value)
  if index == _UNLABELLED:
    return None
  if not 0 <= index < len(label_map):
    raise InputError(f'{where}: label {index} is not a class index in '
                     f'[0, {len(label_map)})')
  return label_map[index]


def _load(tfds_name: str, split: str, data_dir: str,
          split_aliases: dict[str, tuple[str, ...]]
          ) -> tuple[Any, Iterator[dict[str, Any]], str]:
  """(the builder's features, the split's examples as NumPy dicts, and
  'tfds:<name>/<split>' for messages).

  This is `tfds.load(name, split=..., data_dir=..., download=False)`, with the
  builder kept to check the split against its split names first.
  """
  tf_module()  # Hides accelerators from TF before tfds starts it.
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    builder = tfds.builder(tfds_name, data_dir=data_dir or None)
  except Exception as e:  # tfds raises many types; all mean "no such data".
    raise InputError(f'cannot load TFDS dataset {tfds_name!r}: '
                     f'{_first_line(e)}') from None
  tfds_split = _tfds_split(tfds_name, split, split_aliases,
                           list(builder.info.splits))
  try:
    dataset = builder.as_dataset(split=tfds_split, shuffle_files=False)
  except AssertionError:  # TFDS's "could not find data in <data_dir>".
    root = data_dir or builder.data_dir_root
    raise InputError(
        f'TFDS dataset {tfds_name!r} is not prepared in data dir {root}: '
        f'prepare it first on a machine with network (`tfds build '
        f'{tfds_name} --data_dir={root}`, or tfds.load(..., '
        'download=True))') from None
  except Exception as e:  # pylint: disable=broad-except
    raise InputError(f'cannot read TFDS dataset {tfds_name!r} split '
                     f'{tfds_split!r}: {_first_line(e)}') from None
  where = f'tfds:{tfds_name}/{tfds_split}'
  return builder.info.features, _numpy_examples(dataset, where), where


def _tfds_split(tfds_name: str, split: str,
                split_aliases: dict[str, tuple[str, ...]],
                available: list[str]) -> str:
  """The builder's name for the project's `split`.

  `available` is empty until the dataset is prepared (and for mocked
  builders); then the preferred alias is taken and loading tells the rest.
  """
  candidates = split_aliases.get(split, ()) + (split,)
  if not available:
    return candidates[0]
  for name in candidates:
    if name in available:
      return name
  tried = (f' (looked for {", ".join(dict.fromkeys(candidates))})'
           if len(candidates) > 1 else '')
  raise InputError(f'TFDS dataset {tfds_name!r} has no split {split!r}'
                   f'{tried}; its splits are {", ".join(sorted(available))}')


def _numpy_examples(dataset: Any, where: str) -> Iterator[dict[str, Any]]:
  """The dataset's examples; a read failure midway is an InputError."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    yield from tfds.as_numpy(dataset)
  except tf_module().errors.OpError as e:
    raise InputError(f'cannot read {where}: {_first_line(e)}') from None


def _require(features: Any, names: Sequence[str], tfds_name: str,
             reader: str) -> None:
  """InputError unless the builder has every feature of `names`."""
  missing = [name for name in names if name not in features]
  if missing:
    raise InputError(
        f'TFDS dataset {tfds_name!r} has no feature '
        f'{", ".join(map(repr, missing))}, which {reader} reads; it has '
        f'{sorted(features)}')


def _text(value: bytes, where: str) -> str:
  try:
    return value.decode('utf-8')
  except UnicodeDecodeError as e:
    raise InputError(f'{where}: not UTF-8 text ({e.reason})') from None


def _non_empty(examples: list, where: str) -> list:
  """`examples`, or an InputError: an empty split is a wrong name or slice
  sooner than data to train or score on."""
  if not examples:
    raise InputError(f'{where} has no examples')
  return examples


def _first_line(error: Exception) -> str:
  lines = str(error).strip().splitlines()
  return lines[0] if lines else type(error).__name__
