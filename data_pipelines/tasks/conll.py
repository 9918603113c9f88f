"""CoNLL-2003 named entities: reader, featuriser, and the way back from
per-row predictions to one tag per word.

The files hold one token per line in space-separated columns, the word first
and the entity tag last; blank lines end sentences and `-DOCSTART-` lines mark
documents. The original CoNLL-2003 tags are IOB1 (`I-X` opens a chunk, `B-X`
only starts a chunk right after one of the same type); the reader turns
them, and IOB2 files alike, into IOB2 (every chunk opens with `B-X`), so the
model learns and predicts one scheme whatever the file used.

Words are tokenized one by one and only a word's first sub-token is scored,
as in BERT's NER recipe. A sentence longer than a row is split at word
boundaries into several rows rather than cut, so every word of an evaluation
file gets a prediction and the entity F1 counts every gold entity.
"""
import dataclasses
import re
from typing import Optional, Sequence

import numpy as np

from data_pipelines.tasks import files
from data_pipelines.tokenizers import Tokenizer
from lm_jax.errors import InputError

_TAG = re.compile(r'[BI]-\S+')
_DOCSTART = '-DOCSTART-'


@dataclasses.dataclass
class TaggedSentence:
  """One sentence: its words, their IOB2 tags, and the 1-based line of its
  first word (word i is on line `line + i`)."""
  words: list[str]
  tags: list[str]
  line: int


def read_conll(path: str,
               tags: Optional[Sequence[str]] = None) -> list[TaggedSentence]:
  """The sentences of a CoNLL file, tags converted to IOB2.

  Args:
    path: the file (local or gs://, plain or .gz).
    tags: the tag list of the training file; if given, a tag outside it is an
      InputError (the model could never predict it).
  """
  sentences = []
  words, raw_tags, first_line = [], [], 0
  for line_number, line in enumerate(files.read_lines(path), start=1):
    columns = line.split()
    if not columns or columns[0] == _DOCSTART:
      if words:
        sentences.append(_sentence(words, raw_tags, first_line, path, tags))
        words, raw_tags = [], []
      continue
    if len(columns) < 2:
      raise InputError(f'{path}:{line_number}: one column only; expected '
                       'the word first and its tag last')
    tag = columns[-1]
    if tag != 'O' and not _TAG.fullmatch(tag):
      raise InputError(f'{path}:{line_number}: tag {tag!r} is not O, B-X or '
                       'I-X')
    if not words:
      first_line = line_number
    words.append(columns[0])
    raw_tags.append(tag)
  if words:
    sentences.append(_sentence(words, raw_tags, first_line, path, tags))
  if not sentences:
    raise InputError(f'{path} has no sentences')
  return sentences


def _sentence(words: list[str], raw_tags: list[str], first_line: int,
              path: str, tags: Optional[Sequence[str]]) -> TaggedSentence:
  """The sentence in IOB2, its tags checked against `tags` if given."""
  iob2 = to_iob2(raw_tags)
  if tags is not None:
    for i, (raw, tag) in enumerate(zip(raw_tags, iob2)):
      if tag not in tags:
        as_iob2 = f' ({tag!r} in IOB2)' if tag != raw else ''
        raise InputError(
            f'{path}:{first_line + i}: tag {raw!r}{as_iob2} is not in the '
            f'training tags ({", ".join(tags)})')
  return TaggedSentence(words, iob2, first_line)


def to_iob2(tags: list[str]) -> list[str]:
  """IOB1 or IOB2 tags of one sentence as IOB2: an I-X that does not continue
  a chunk of type X opens one, so becomes B-X."""
  converted = []
  previous = 'O'
  for tag in tags:
    if tag.startswith('I-') and (previous == 'O' or previous[2:] != tag[2:]):
      tag = 'B-' + tag[2:]
    converted.append(tag)
    previous = tag
  return converted


def tag_list(sentences: Sequence[TaggedSentence]) -> list[str]:
  """'O', then B-X and I-X of every entity type X of `sentences`, sorted.

  Both tags of a type are listed even if one never occurs, so that an
  evaluation file can use it.
  """
  types = {tag[2:] for s in sentences for tag in s.tags if tag != 'O'}
  return ['O'] + sorted(f'{p}-{t}' for t in types for p in 'BI')


def featurize(sentences: Sequence[TaggedSentence], tokenizer: Tokenizer,
              seq_len: int, tag_ids: dict[str, int]
              ) -> tuple[dict[str, np.ndarray], int]:
  """Rows of `[CLS] sub-tokens [SEP]`, and the number of sentences split.

  A sentence whose sub-tokens exceed seq_len - 2 continues in further rows,
  split between words; a single word longer than that keeps its first
  seq_len - 2 sub-tokens. A word that encodes to nothing stands as [UNK].

  Returns:
    ({'ids', 'segment_ids' (all 0), 'input_mask', 'tags' (the tag id at a
      word's first sub-token, -1 at every other position), 'word_index' (the
      word's index in its sentence at its first sub-token, -1 elsewhere):
      [N, L] int32; 'example_index': [N] int32, the row's sentence},
     num_split).
  """
  if seq_len < 3:
    raise ValueError(f'seq_len must be at least 3, got {seq_len}')
  max_pieces = seq_len - 2
  cache = {}  # Words repeat a lot; each is encoded once.
  rows = []  # (sentence index, [(word index, tag id, sub-token ids)])
  num_split = 0
  for s_index, sentence in enumerate(sentences):
    row, row_len, num_rows = [], 0, 1
    for w_index, (word, tag) in enumerate(zip(sentence.words, sentence.tags)):
      if word not in cache:
        cache[word] = (tokenizer.encode(word) or [tokenizer.unk_id])[
            :max_pieces]
      pieces = cache[word]
      if row and row_len + len(pieces) > max_pieces:
        rows.append((s_index, row))
        row, row_len, num_rows = [], 0, num_rows + 1
      if tag not in tag_ids:
        raise ValueError(f'tag {tag!r} of the sentence at line '
                         f'{sentence.line} is not in tag_ids')
      row.append((w_index, tag_ids[tag], pieces))
      row_len += len(pieces)
    rows.append((s_index, row))
    num_split += num_rows > 1

  n = len(rows)
  ids_NxL = np.full((n, seq_len), tokenizer.pad_id, np.int32)
  input_mask_NxL = np.zeros((n, seq_len), np.int32)
  tags_NxL = np.full((n, seq_len), -1, np.int32)
  word_index_NxL = np.full((n, seq_len), -1, np.int32)
  example_index_N = np.zeros(n, np.int32)
  for r, (s_index, row) in enumerate(rows):
    example_index_N[r] = s_index
    ids_NxL[r, 0] = tokenizer.cls_id
    position = 1
    for w_index, tag_id, pieces in row:
      ids_NxL[r, position:position + len(pieces)] = pieces
      tags_NxL[r, position] = tag_id
      word_index_NxL[r, position] = w_index
      position += len(pieces)
    ids_NxL[r, position] = tokenizer.sep_id
    input_mask_NxL[r, :position + 1] = 1
  return {'ids': ids_NxL, 'segment_ids': np.zeros_like(ids_NxL),
          'input_mask': input_mask_NxL, 'tags': tags_NxL,
          'word_index': word_index_NxL,
          'example_index': example_index_N}, num_split


def assemble(sentences: Sequence[TaggedSentence], example_index_N: np.ndarray,
             word_index_NxL: np.ndarray, predicted_NxL: np.ndarray,
             tags: Sequence[str]) -> list[list[str]]:
  """The predicted tag of every word of every sentence, from per-row
  predictions (tag ids at the `featurize` rows' positions)."""
  predicted = [[None] * len(s.words) for s in sentences]
  rows, positions = np.nonzero(word_index_NxL >= 0)
  for r, p in zip(rows, positions):
    words = predicted[example_index_N[r]]
    w = word_index_NxL[r, p]
    assert words[w] is None, f'word {w} of row {r} is predicted twice'
    words[w] = tags[predicted_NxL[r, p]]
  for s_index, words in enumerate(predicted):
    assert None not in words, (
        f'sentence {s_index} has words without a prediction')
  return predicted


def write_predictions(path: str, sentences: Sequence[TaggedSentence],
                      predicted: Sequence[Sequence[str]]) -> None:
  """Writes `word gold predicted` per line, a blank line after each sentence:
  the input of conlleval."""
  if len(sentences) != len(predicted):
    raise ValueError(f'{len(sentences)} sentences but {len(predicted)} '
                     'predictions')
  lines = []
  for sentence, tags in zip(sentences, predicted):
    if len(tags) != len(sentence.words):
      raise ValueError(f'sentence at line {sentence.line} has '
                       f'{len(sentence.words)} words but {len(tags)} tags')
    lines += [f'{w} {g} {p}\n'
              for w, g, p in zip(sentence.words, sentence.tags, tags)]
    lines.append('\n')
  files.write_text(path, ''.join(lines))
