"""ELECTRA's pretraining example builder (algorithms.md §1.9).

Packs consecutive sentences of a document into `[CLS] A [SEP] (B [SEP])`
examples of at most `seq_len` tokens. The split point and the occasional
short target come from one seeded `numpy` generator, so the same corpus and
seed always give the same examples.

Two departures from the reference keep every token of the corpus: a line
longer than an example can hold (L-2) is split instead of being cut, and the
tokens an example cannot hold (the reference drops the tail of A or B) start
the next example of the same document.
"""
import collections
from typing import Iterable, Iterator, Sequence

import numpy as np

from data_pipelines.sentences import (BuildStats, pack_row, split_document,
                                      split_long)

# Part of the cache key of built examples: bump it whenever a change here
# changes the examples a corpus gives.
VERSION = 2

SINGLE_SEGMENT_PROB = 0.1  # examples with no second segment
SHORT_TARGET_PROB = 0.05  # next target is randint(5, L) instead of L


class ElectraExampleBuilder:
  """Turns documents (lists of token-id sentences) into fixed-length rows."""

  def __init__(self, seq_len: int, cls_id: int, sep_id: int, pad_id: int,
               seed: int):
    if seq_len < 5:
      raise ValueError(f'seq_len must be at least 5, got {seq_len}')
    self.seq_len, self.cls_id, self.sep_id, self.pad_id = (
        seq_len, cls_id, sep_id, pad_id)
    self._rng = np.random.default_rng(seed)
    self._target = seq_len
    self.stats = BuildStats()

  def __call__(self, documents: Iterable[Sequence[Sequence[int]]]
               ) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """Yields (input_ids [L] int32, segment_ids [L] int32, 0) per example."""
    max_tokens = self.seq_len - 2  # [CLS] A [SEP]
    for document in documents:
      # Sentences not yet in an example; what an example could not hold goes
      # back to the front.
      pending = collections.deque(split_document(
          document, max_tokens, self.stats, split=self._split_line))
      sentences, length = [], 0
      while pending:
        sentence = pending.popleft()
        sentences.append(sentence)
        length += len(sentence)
        # The end of a document closes the example.
        if length >= self._target or not pending:
          example, overflow = self._make_example(sentences)
          self.stats.examples += 1
          yield example
          if len(overflow) > max_tokens:
            pending.extendleft(reversed(self._split_line(overflow)))
          elif overflow:
            pending.appendleft(overflow)
          sentences, length = [], 0

  def _split_line(self, line):
    """Pieces of a first segment's size, (L-3)//2, to fill two-segment rows."""
    return split_long(line, (self.seq_len - 3) // 2)

  def _make_example(self, sentences):
    """((ids, segments, 0), tokens that did not fit) of the sentences."""
    rng = self._rng
    if rng.random() < SINGLE_SEGMENT_PROB:
      first_target = float('inf')
    else:
      first_target = (self._target - 3) // 2
    first, second = [], []
    for sentence in sentences:
      # A sentence joins A if A is empty, if it still fits, or half of the
      # time when it overflows A while B is still empty.
      if (not first or len(first) + len(sentence) < first_target
          or (not second and len(first) < first_target and rng.random() < 0.5)):
        first.extend(sentence)
      else:
        second.extend(sentence)
    overflow = first[self.seq_len - 2:]
    first = first[:self.seq_len - 2]
    room = max(0, self.seq_len - len(first) - 3)
    overflow += second[room:]
    second = second[:room]
    if rng.random() < SHORT_TARGET_PROB:
      self._target = int(rng.integers(5, self.seq_len + 1))
    else:
      self._target = self.seq_len

    ids, segments = pack_row(self.seq_len, self.cls_id, self.sep_id,
                             self.pad_id, first, second)
    return (ids, segments, 0), overflow
