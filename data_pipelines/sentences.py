"""What every instance builder shares: splitting long lines, build counts,
and the row layout.

A tokenized line longer than an example can hold is split into consecutive
pieces instead of being cut or dropped, so that no text of the corpus is lost
before packing; `BuildStats` reports what the packing made of the input;
`pack_row` lays segments out as `[CLS] A [SEP] (B [SEP])` (§1.1, §1.9).
"""
import dataclasses
from typing import Callable, Iterable, Optional, Sequence

import numpy as np


def split_long(sentence_ids: Sequence[int],
               max_tokens: int) -> list[Sequence[int]]:
  """`sentence_ids` as consecutive pieces of `max_tokens` tokens, and the rest.

  A line that fits comes back whole. Every piece but the last is full, so an
  example that takes one is as full as the line allows.
  """
  if max_tokens < 1:
    raise ValueError(f'max_tokens must be at least 1, got {max_tokens}')
  if len(sentence_ids) <= max_tokens:
    return [sentence_ids]
  return [sentence_ids[start:start + max_tokens]
          for start in range(0, len(sentence_ids), max_tokens)]


@dataclasses.dataclass
class BuildStats:
  """Counts of one build: its input, and what the examples kept of it.

  documents, sentences and tokens count the non-empty input documents, lines
  and their tokens once each; split_lines the lines that had to be split;
  truncated_tokens the input tokens that end up in no example because of
  truncation.
  """
  documents: int = 0
  sentences: int = 0
  tokens: int = 0
  split_lines: int = 0
  examples: int = 0
  truncated_tokens: int = 0

  def summary(self) -> str:
    return (f'{self.documents:,} documents, {self.sentences:,} sentences, '
            f'{self.tokens:,} tokens ({self.split_lines:,} long lines split) '
            f'-> {self.examples:,} examples, '
            f'{self.truncated_tokens:,} tokens truncated')


def split_document(document: Iterable[Sequence[int]], max_tokens: int,
                   stats: BuildStats, *,
                   split: Optional[Callable[[Sequence[int]],
                                            list[Sequence[int]]]] = None
                   ) -> list[Sequence[int]]:
  """The non-empty lines of `document`, long ones split, counted in `stats`.

  A line longer than `max_tokens` is replaced by `split(line)`, by default
  `split_long(line, max_tokens)`.
  """
  pieces = []
  for line in document:
    if not len(line):
      continue
    stats.sentences += 1
    stats.tokens += len(line)
    if len(line) > max_tokens:
      stats.split_lines += 1
      pieces += split(line) if split else split_long(line, max_tokens)
    else:
      pieces.append(line)
  if pieces:
    stats.documents += 1
  return pieces


def pack_row(seq_len: int, cls_id: int, sep_id: int, pad_id: int,
             first: Sequence[int], second: Sequence[int] = (),
             end_id: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """(input_ids [L], segment_ids [L]) int32 of `[CLS] A [SEP] (B [SEP])`,
  padded: segment 0 up to the first [SEP], 1 for B and its [SEP]. With
  `end_id`, the row's last token is that instead of [SEP] (GPT-1's
  `start A delimiter B extract`)."""
  end_id = sep_id if end_id is None else end_id
  a_len, b_len = len(first), len(second)
  ids = np.full(seq_len, pad_id, np.int32)
  segments = np.zeros(seq_len, np.int32)
  ids[0] = cls_id
  ids[1:a_len + 1] = first
  ids[a_len + 1] = sep_id if b_len else end_id
  if b_len:
    ids[a_len + 2:a_len + b_len + 2] = second
    ids[a_len + b_len + 2] = end_id
    segments[a_len + 2:a_len + b_len + 3] = 1
  return ids, segments


@dataclasses.dataclass(frozen=True)
class RowTokens:
  """The special tokens of a fine-tuning row `start A delimiter B end`:
  BERT's [CLS], [SEP], [SEP] (`of`), or GPT-1's start, delimiter and
  extract tokens, which fine-tuning adds to a causal LM's vocabulary."""
  start: int
  delimiter: int
  end: int
  pad: int

  @classmethod
  def of(cls, tokenizer) -> 'RowTokens':
    return cls(tokenizer.cls_id, tokenizer.sep_id, tokenizer.sep_id,
               tokenizer.pad_id)

  def pack(self, seq_len: int, first: Sequence[int],
           second: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    return pack_row(seq_len, self.start, self.delimiter, self.pad, first,
                    second, end_id=self.end)
