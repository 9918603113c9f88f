"""GLUE: the task table, a reader of GLUE's TSV files, the featuriser, and
the writer of GLUE-server submission files.

The files are read in GLUE's own layout (the one its download script makes:
`<data_dir>/<Task>/{train,dev,test}.tsv`, MNLI's `dev_matched.tsv` and so on),
tab-separated with no quoting: sentences hold `"` characters, so a row is
split on '\t' and nothing else. Columns are found by their header names,
because the tasks put the text and label at different places; CoLA's
labelled files have no header and a fixed 4-column layout.

Every problem in a file is an `InputError` naming the file and the 1-based
line, or, with `skip_malformed`, a skipped row whose line the caller reports:
a row read wrong would otherwise give a silently wrong score.

`truncate_pair` is BERT's `_truncate_seq_pair`, the one pair-truncation rule
of every sentence-pair featuriser of the project.
"""
import dataclasses
import math
import os
from typing import Optional, Sequence, Union

import numpy as np

from data_pipelines.sentences import RowTokens
from data_pipelines.tasks import files
from data_pipelines.tokenizers import Tokenizer
from lm_jax.errors import InputError

# Header names that hold an example's id, in test files that GLUE's server
# needs back in the submission ('id' in QQP, 'index' elsewhere).
_GUID_COLUMNS = ('index', 'id')


@dataclasses.dataclass(frozen=True)
class GlueSplit:
  """One file of a task.

  name: the split's name in this project ('train', 'dev', 'matched',
    'test', ...). file_name: its name in GLUE's layout. labelled: whether the
    file carries labels. submission: for a test split, the name of its file
    in a GLUE-server submission.
  """
  name: str
  file_name: str
  labelled: bool
  submission: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class GlueTask:
  """What reading, scoring and submitting one GLUE task needs.

  labels: the label strings as the files write them, a label's class index
    being its position; None for STS-B's regression.
  metric: 'mcc', 'accuracy', 'accuracy_f1' or 'correlation'.
  main_metric: the one number reported for the task ('mcc', 'accuracy',
    'f1' or 'spearman').
  text_columns: header names of sentence A (and B for pair tasks).
  label_column: header name of the label (or STS-B's score).
  fixed_columns: the column names of labelled files that have no header
    (CoLA's); None where every file has a header.
  double_unordered: whether ELECTRA's trick applies, training on both (A, B)
    and (B, A) of a symmetric pair task.
  """
  name: str
  directory: str
  labels: Optional[tuple[str, ...]]
  metric: str
  main_metric: str
  text_columns: tuple[str, ...]
  label_column: str
  splits: tuple[GlueSplit, ...]
  fixed_columns: Optional[tuple[str, ...]] = None
  double_unordered: bool = False

  @property
  def is_pair(self) -> bool:
    return len(self.text_columns) == 2

  @property
  def is_regression(self) -> bool:
    return self.labels is None

  @property
  def num_labels(self) -> int:
    """Classes of a classification task; 1 (the score) for regression."""
    return 1 if self.labels is None else len(self.labels)

  @property
  def eval_splits(self) -> tuple[GlueSplit, ...]:
    """The labelled splits other than train (dev; MNLI's two)."""
    return tuple(s for s in self.splits if s.labelled and s.name != 'train')

  @property
  def test_splits(self) -> tuple[GlueSplit, ...]:
    return tuple(s for s in self.splits if not s.labelled)

  def split(self, name: str) -> GlueSplit:
    for s in self.splits:
      if s.name == name:
        return s
    raise InputError(f'GLUE task {self.name} has no split {name!r} (it has '
                     f'{", ".join(s.name for s in self.splits)})')

  def path(self, data_dir: str, split: str) -> str:
    """The split's file under a GLUE data dir (or its `.gz`)."""
    return files.find(os.path.join(data_dir, self.directory),
                      (self.split(split).file_name,),
                      f'{self.name} {split}')


def _splits(submission: str) -> tuple[GlueSplit, ...]:
  return (GlueSplit('train', 'train.tsv', True),
          GlueSplit('dev', 'dev.tsv', True),
          GlueSplit('test', 'test.tsv', False, submission))


_BINARY = ('0', '1')
_NLI = ('entailment', 'not_entailment')

TASKS: dict[str, GlueTask] = {t.name: t for t in (
    GlueTask('cola', 'CoLA', _BINARY, 'mcc', 'mcc', ('sentence',), 'label',
             _splits('CoLA.tsv'),
             fixed_columns=('source', 'label', 'original_mark', 'sentence')),
    GlueTask('sst2', 'SST-2', _BINARY, 'accuracy', 'accuracy', ('sentence',),
             'label', _splits('SST-2.tsv')),
    GlueTask('mrpc', 'MRPC', _BINARY, 'accuracy_f1', 'f1',
             ('#1 String', '#2 String'), 'Quality', _splits('MRPC.tsv'),
             double_unordered=True),
    GlueTask('stsb', 'STS-B', None, 'correlation', 'spearman',
             ('sentence1', 'sentence2'), 'score', _splits('STS-B.tsv'),
             double_unordered=True),
    GlueTask('qqp', 'QQP', _BINARY, 'accuracy_f1', 'f1',
             ('question1', 'question2'), 'is_duplicate', _splits('QQP.tsv')),
    # BERT's label order for MNLI.
    GlueTask('mnli', 'MNLI', ('contradiction', 'entailment', 'neutral'),
             'accuracy', 'accuracy', ('sentence1', 'sentence2'), 'gold_label',
             (GlueSplit('train', 'train.tsv', True),
              GlueSplit('matched', 'dev_matched.tsv', True),
              GlueSplit('mismatched', 'dev_mismatched.tsv', True),
              GlueSplit('test_matched', 'test_matched.tsv', False,
                        'MNLI-m.tsv'),
              GlueSplit('test_mismatched', 'test_mismatched.tsv', False,
                        'MNLI-mm.tsv'))),
    GlueTask('qnli', 'QNLI', _NLI, 'accuracy', 'accuracy',
             ('question', 'sentence'), 'label', _splits('QNLI.tsv')),
    GlueTask('rte', 'RTE', _NLI, 'accuracy', 'accuracy',
             ('sentence1', 'sentence2'), 'label', _splits('RTE.tsv')),
    GlueTask('wnli', 'WNLI', _BINARY, 'accuracy', 'accuracy',
             ('sentence1', 'sentence2'), 'label', _splits('WNLI.tsv')),
)}


def get_task(name: str) -> GlueTask:
  """The task of a name such as 'sst2' (case and '-' ignored: 'SST-2')."""
  key = name.lower().replace('-', '')
  if key not in TASKS:
    raise InputError(f'unknown GLUE task {name!r} (known: '
                     f'{", ".join(TASKS)})')
  return TASKS[key]


@dataclasses.dataclass
class PairExample:
  """One row: label is a class index, STS-B's float score, or None (test)."""
  guid: str
  text_a: str
  text_b: Optional[str]
  label: Union[int, float, None]


def read_split(task: GlueTask, path: str, *, labelled: bool,
               skip_malformed: bool = False
               ) -> tuple[list[PairExample], list[int]]:
  """The examples of one GLUE TSV, and the lines of rows skipped as malformed.

  Args:
    task: the file's task.
    path: the TSV (local or gs://, plain or .gz).
    labelled: whether to read labels (train/dev); test files have none.
    skip_malformed: skip rows with a wrong column count, an unknown label or
      a bad score, and return their 1-based lines, instead of raising
      InputError at the first; for files known to hold a few broken rows.
      Problems of the file as a whole (missing, empty, no rows, a header that
      lacks a needed column) always raise.

  Returns:
    (examples, skipped_lines); the guid of an example is its 'index'/'id'
    column where the file has one (test files do, and the submission needs
    it), else 'line-<n>'.
  """
  lines = files.read_lines(path)
  headerless = labelled and task.fixed_columns is not None
  if headerless:
    header, first_row = list(task.fixed_columns), 0
  else:
    header, first_row = [name.strip() for name in lines[0].split('\t')], 1
  column = {name: i for i, name in reversed(list(enumerate(header)))}
  needed = list(task.text_columns) + ([task.label_column] if labelled else [])
  for name in needed:
    if name not in column:
      raise InputError(
          f'{path}:1: the header has no {name!r} column, which {task.name} '
          f'needs (columns: {", ".join(map(repr, header))}; is this a '
          f'{"labelled" if labelled else "test"} {task.name} file?)')
  text_at = [column[name] for name in task.text_columns]
  guid_at = next((column[n] for n in _GUID_COLUMNS if n in column), None)

  examples, skipped = [], []
  for line_number, line in enumerate(lines[first_row:], start=first_row + 1):
    if not line:
      continue  # A blank line holds no example.
    fields = line.split('\t')
    try:
      if len(fields) != len(header):
        raise InputError(
            f'{path}:{line_number}: {len(fields)} tab-separated columns, '
            f'expected {len(header)}')
      label = (_label(task, fields[column[task.label_column]].strip(), path,
                      line_number) if labelled else None)
    except InputError:
      if not skip_malformed:
        raise
      skipped.append(line_number)
      continue
    guid = fields[guid_at] if guid_at is not None else f'line-{line_number}'
    examples.append(PairExample(
        guid, fields[text_at[0]],
        fields[text_at[1]] if task.is_pair else None, label))
  if not examples:
    raise InputError(f'{path} has no rows' + (
        f' ({len(skipped)} malformed ones skipped)' if skipped else ''))
  return examples, skipped


def _label(task: GlueTask, value: str, path: str,
           line_number: int) -> Union[int, float]:
  if task.labels is not None:
    if value not in task.labels:
      raise InputError(
          f'{path}:{line_number}: label {value!r} is not a {task.name} label '
          f'({", ".join(task.labels)})')
    return task.labels.index(value)
  try:
    score = float(value)
  except ValueError:
    score = math.nan
  if not 0 <= score <= 5:  # False for nan, so non-numbers land here too.
    raise InputError(
        f'{path}:{line_number}: score {value!r} is not a number in [0, 5]')
  return score


def truncate_pair(first: Sequence[int], second: Sequence[int],
                  max_tokens: int) -> tuple[Sequence[int], Sequence[int]]:
  """BERT's `_truncate_seq_pair`: drops the last token of the longer of the
  two (of `second` on a tie) until both fit in `max_tokens` together.

  With `second` empty it cuts `first` to `max_tokens`. Returns prefixes of the
  inputs, which are left as they are.
  """
  if max_tokens < 0:
    raise ValueError(f'max_tokens must be at least 0, got {max_tokens}')
  a, b = len(first), len(second)
  while a + b > max_tokens:
    if a > b:
      a -= 1
    else:
      b -= 1
  return first[:a], second[:b]


def featurize(examples: Sequence[PairExample], tokenizer: Tokenizer,
              seq_len: int, *, task: GlueTask, row: RowTokens | None = None
              ) -> tuple[dict[str, np.ndarray], int]:
  """The model inputs of `examples`, and how many of them were truncated.

  Each example is one `[CLS] A [SEP] (B [SEP])` row of `seq_len` tokens (or
  the `row` tokens' `start A delimiter B end`), the pair cut by
  `truncate_pair` to seq_len - 3 tokens (a single sentence to seq_len - 2).

  Returns:
    ({'ids', 'segment_ids', 'input_mask': [N, L] int32, 'example_index':
      [N] int32 (the row's index in `examples`), and either 'label' [N] int32
      (class index, -1 where unlabelled) or, for STS-B, 'target' [N] float32
      (the raw 0..5 score, NaN where unlabelled)}, num_truncated).
  """
  row = row or RowTokens.of(tokenizer)
  specials = 3 if task.is_pair else 2
  if seq_len < specials + 1:
    raise ValueError(f'seq_len must be at least {specials + 1}, got '
                     f'{seq_len}')
  n = len(examples)
  ids_NxL = np.zeros((n, seq_len), np.int32)
  segment_ids_NxL = np.zeros((n, seq_len), np.int32)
  input_mask_NxL = np.zeros((n, seq_len), np.int32)
  num_truncated = 0
  for i, example in enumerate(examples):
    first = tokenizer.encode(example.text_a)
    second = tokenizer.encode(example.text_b) if task.is_pair else []
    a, b = truncate_pair(first, second, seq_len - specials)
    num_truncated += len(a) + len(b) < len(first) + len(second)
    ids_NxL[i], segment_ids_NxL[i] = row.pack(seq_len, a, b)
    # pack_row leaves B's [SEP] out when B is empty.
    input_mask_NxL[i, :len(a) + 2 + (len(b) + 1 if b else 0)] = 1
  arrays = {'ids': ids_NxL, 'segment_ids': segment_ids_NxL,
            'input_mask': input_mask_NxL,
            'example_index': np.arange(n, dtype=np.int32)}
  labels = [e.label for e in examples]
  if task.is_regression:
    arrays['target'] = np.array(
        [math.nan if x is None else x for x in labels], np.float32)
  else:
    arrays['label'] = np.array([-1 if x is None else x for x in labels],
                               np.int32)
  return arrays, num_truncated


def double_unordered(examples: Sequence[PairExample]) -> list[PairExample]:
  """`examples` followed by their (B, A) copies (ELECTRA's double_unordered:
  for symmetric pair tasks, twice the training data for free)."""
  swapped = []
  for e in examples:
    if e.text_b is None:
      raise ValueError(f'example {e.guid} has no sentence B to swap')
    swapped.append(PairExample(f'{e.guid}-swapped', e.text_b, e.text_a,
                               e.label))
  return list(examples) + swapped


def write_submission(output_dir: str, task_name: str, split: str,
                     guids: Sequence[str],
                     predictions: Union[Sequence[int], Sequence[float],
                                        np.ndarray]) -> str:
  """Writes the GLUE-server file of one test split; returns its path.

  The file is `<output_dir>/<submission name>` (e.g. 'MNLI-m.tsv'): a header
  `index<TAB>prediction`, then one row per test example in order, the
  prediction as its label string, or for STS-B the score with 3 decimals.

  Args:
    output_dir: the submission folder (made if missing).
    task_name: a key of TASKS.
    split: one of the task's test splits ('test', MNLI's 'test_matched'...).
    guids: the examples' guids, i.e. the file's index column.
    predictions: class indices, or STS-B scores.
  """
  task = get_task(task_name)
  name = task.split(split).submission
  if name is None:
    raise ValueError(f'{task.name} split {split!r} is not a test split')
  if len(guids) != len(predictions):
    raise ValueError(f'{len(guids)} guids but {len(predictions)} predictions')
  rows = ['index\tprediction']
  for guid, prediction in zip(guids, predictions):
    if task.labels is None:
      if not math.isfinite(prediction):
        raise ValueError(f'prediction {prediction} of {guid} is not finite')
      rows.append(f'{guid}\t{float(prediction):.3f}')
    else:
      if not 0 <= prediction < len(task.labels):
        raise ValueError(f'prediction {prediction} of {guid} is not a class '
                         f'of {task.name}')
      rows.append(f'{guid}\t{task.labels[int(prediction)]}')
  os.makedirs(output_dir, exist_ok=True)
  path = os.path.join(output_dir, name)
  files.write_text(path, ''.join(row + '\n' for row in rows))
  return path

