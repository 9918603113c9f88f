"""Multiple choice (SWAG-style jsonl, PIQA): readers and the featuriser.

An example is a context and C candidate continuations, one of them right.
Two file layouts are read:
  PIQA: `<split>.jsonl` lines `{"goal", "sol1", "sol2"}` with the answers
    apart, line i of `<split>-labels.lst` holding 0 or 1;
  SWAG-style: `<split>.jsonl` lines `{"id"?, "context", "choices": [...],
    "label"}`, or with the keys of the Hugging Face SWAG export (`sent1` the
    context, `sent2` the start every ending shares, `ending0`..`ending<C-1>`),
    the label inside, if any.
Every example of a file has the same number of choices, so a batch is one
[N, C, L] array; each choice is its own `[CLS] context [SEP] choice [SEP]`
row and the model scores the C rows of an example against each other.
"""
import dataclasses
import json
import os
from typing import Any, Optional, Sequence

import numpy as np

from data_pipelines.sentences import RowTokens
from data_pipelines.tasks import files
from data_pipelines.tasks.glue import truncate_pair
from data_pipelines.tokenizers import Tokenizer
from lm_jax.errors import InputError

_PIQA_KEYS = ('goal', 'sol1', 'sol2')

# The file stems a split may have, in order of preference: PIQA calls its dev
# set 'valid', SWAG 'val'.
_STEMS = {'train': ('train',), 'dev': ('dev', 'valid', 'val'),
          'valid': ('valid', 'dev', 'val'), 'test': ('test', 'tests')}


@dataclasses.dataclass
class ChoiceExample:
  """One question; label is the right choice's index, None if unknown."""
  guid: str
  context: str
  choices: list[str]
  label: Optional[int]


def read_piqa(jsonl_path: str,
              labels_path: Optional[str] = None) -> list[ChoiceExample]:
  """PIQA's examples, labelled from `labels_path` (line i: 0 or 1) if given."""
  lines = files.read_lines(jsonl_path)
  labels = None
  if labels_path is not None:
    labels = files.read_lines(labels_path)
    if len(labels) != len(lines):
      raise InputError(
          f'{jsonl_path} has {len(lines)} lines but {labels_path} has '
          f'{len(labels)} labels')
  examples = []
  for i, line in enumerate(lines):
    obj = _json_object(line, jsonl_path, i + 1)
    context, choices = _piqa_fields(obj, jsonl_path, i + 1)
    label = None
    if labels is not None:
      value = labels[i].strip()
      if value not in ('0', '1'):
        raise InputError(f'{labels_path}:{i + 1}: label {value!r} is not 0 '
                         'or 1')
      label = int(value)
    examples.append(ChoiceExample(_guid(obj, i + 1), context, choices, label))
  return examples


def read_choices_jsonl(path: str) -> list[ChoiceExample]:
  """The examples of a SWAG-style jsonl (labels inside, or none at all).

  A line is `{"id"?, "context", "choices", "label"?}`, or HF SWAG's
  `{"sent1", "sent2"?, "ending0", ..., "label"?}` (each choice then is
  `sent2 + ' ' + ending`), or PIQA's `{"goal", "sol1", "sol2"}` with no
  label. Blank lines are skipped.
  """
  examples = []
  first = None  # (line, number of choices, labelled) of the first example
  for line_number, line in enumerate(files.read_lines(path), start=1):
    if not line.strip():
      continue
    obj = _json_object(line, path, line_number)
    if 'context' in obj:
      context = _string(obj, 'context', path, line_number)
      choices = obj.get('choices')
      if not isinstance(choices, list) or not all(
          isinstance(c, str) for c in choices):
        raise InputError(f'{path}:{line_number}: "choices" is missing or not '
                         'a list of strings')
    elif 'sent1' in obj:
      context = _string(obj, 'sent1', path, line_number)
      prefix = (_string(obj, 'sent2', path, line_number) if 'sent2' in obj
                else '')
      count = 0
      while f'ending{count}' in obj:
        count += 1
      endings = [_string(obj, f'ending{k}', path, line_number)
                 for k in range(count)]
      choices = [f'{prefix} {e}' if prefix else e for e in endings]
    elif 'goal' in obj:
      context, choices = _piqa_fields(obj, path, line_number)
    else:
      raise InputError(f'{path}:{line_number}: no "context", "sent1" or '
                       '"goal" key')
    label = obj.get('label')
    if first is None:
      first = (line_number, len(choices), label is not None)
      if len(choices) < 2:
        raise InputError(f'{path}:{line_number}: {len(choices)} choices; '
                         'an example needs at least 2')
    if len(choices) != first[1]:
      raise InputError(
          f'{path}:{line_number}: {len(choices)} choices, but the example of '
          f'line {first[0]} has {first[1]} (a file must keep one number)')
    if (label is not None) != first[2]:
      raise InputError(
          f'{path}:{line_number}: ' + ('no label, unlike' if first[2] else
                                       'a label, unlike') +
          f' the example of line {first[0]} (label all examples or none)')
    if label is not None and (isinstance(label, bool) or
                              not isinstance(label, int) or
                              not 0 <= label < len(choices)):
      raise InputError(f'{path}:{line_number}: label {label!r} is not a '
                       f'choice index in [0, {len(choices)})')
    examples.append(ChoiceExample(_guid(obj, line_number), context, choices,
                                  label))
  if not examples:
    raise InputError(f'{path} has no examples')
  return examples


def _json_object(line: str, path: str, line_number: int) -> dict[str, Any]:
  try:
    obj = json.loads(line)
  except json.JSONDecodeError as e:
    raise InputError(f'{path}:{line_number}: invalid JSON ({e.msg} at '
                     f'column {e.colno})') from e
  if not isinstance(obj, dict):
    raise InputError(f'{path}:{line_number}: not a JSON object')
  return obj


def _string(obj: dict[str, Any], key: str, path: str, line_number: int) -> str:
  if key not in obj:
    raise InputError(f'{path}:{line_number}: no {key!r} key')
  if not isinstance(obj[key], str):
    raise InputError(f'{path}:{line_number}: {key!r} is not a string')
  return obj[key]


def _piqa_fields(obj: dict[str, Any], path: str,
                 line_number: int) -> tuple[str, list[str]]:
  goal, sol1, sol2 = (_string(obj, k, path, line_number) for k in _PIQA_KEYS)
  return goal, [sol1, sol2]


def _guid(obj: dict[str, Any], line_number: int) -> str:
  return str(obj['id']) if 'id' in obj else f'line-{line_number}'


def split_files(split: str) -> tuple[str, ...]:
  """The file names a split may have, in order of preference."""
  return tuple(f'{stem}.jsonl' for stem in _STEMS.get(split, (split,)))


def find_split(data_dir: str, split: str) -> list[ChoiceExample]:
  """The examples of `split` ('train', 'dev'/'valid', 'test') in `data_dir`.

  The first `<stem>.jsonl` of the split's stems is read; a
  `<stem>-labels.lst` beside it makes it PIQA's layout, otherwise it is read
  as SWAG-style jsonl.
  """
  path = files.find(data_dir, split_files(split), f'multiple-choice {split}')
  name = os.path.basename(path)
  stem = name[:name.index('.jsonl')]
  try:
    labels_path = files.find(data_dir, (f'{stem}-labels.lst',), 'labels')
  except InputError:
    return read_choices_jsonl(path)
  return read_piqa(path, labels_path)


def featurize(examples: Sequence[ChoiceExample], tokenizer: Tokenizer,
              seq_len: int, row: RowTokens | None = None
              ) -> tuple[dict[str, np.ndarray], int]:
  """Rows `[CLS] context [SEP] choice [SEP]` per choice (or the `row`
  tokens' `start context delimiter choice end`), and how many examples had
  some choice truncated (by glue's `truncate_pair`).

  Returns:
    ({'ids', 'segment_ids', 'input_mask': [N, C, L] int32, 'label': [N] int32
      (-1 where unlabelled), 'example_index': [N] int32}, num_truncated).
  """
  if seq_len < 4:
    raise ValueError(f'seq_len must be at least 4, got {seq_len}')
  row = row or RowTokens.of(tokenizer)
  n = len(examples)
  c = len(examples[0].choices) if examples else 0
  ids_NxCxL = np.zeros((n, c, seq_len), np.int32)
  segment_ids_NxCxL = np.zeros((n, c, seq_len), np.int32)
  input_mask_NxCxL = np.zeros((n, c, seq_len), np.int32)
  num_truncated = 0
  for i, example in enumerate(examples):
    if len(example.choices) != c:
      raise ValueError(f'example {example.guid} has {len(example.choices)} '
                       f'choices, the first has {c}')
    context = tokenizer.encode(example.context)
    truncated = False
    for j, choice in enumerate(example.choices):
      second = tokenizer.encode(choice)
      a, b = truncate_pair(context, second, seq_len - 3)
      truncated |= len(a) + len(b) < len(context) + len(second)
      ids_NxCxL[i, j], segment_ids_NxCxL[i, j] = row.pack(seq_len, a, b)
      # pack_row leaves B's [SEP] out when B is empty.
      input_mask_NxCxL[i, j, :len(a) + 2 + (len(b) + 1 if b else 0)] = 1
    num_truncated += truncated
  label_N = np.array([-1 if e.label is None else e.label for e in examples],
                     np.int32)
  return {'ids': ids_NxCxL, 'segment_ids': segment_ids_NxCxL,
          'input_mask': input_mask_NxCxL, 'label': label_N,
          'example_index': np.arange(n, dtype=np.int32)}, num_truncated
