"""SpanBERT's single-segment blocks, "doc" break mode (algorithms.md §1.5).

A block is up to L-2 contiguous tokens of whole sentences from one document,
laid out as `[CLS] block [SEP]` with all segment ids 0. The reference drops
sentences longer than L-2; here they are split into pieces that each fit, so
no text is lost.
"""
import itertools
from typing import Iterable, Iterator, Sequence

import numpy as np

from data_pipelines.sentences import BuildStats, pack_row, split_document

# Part of the cache key of built examples: bump it whenever a change here
# changes the examples a corpus gives.
VERSION = 1


class BlockExampleBuilder:
  """Packs whole sentences of a document into fixed-length single-segment rows.

  With `short_seq_prob` (the paper run uses 0), a block's target is
  randint(2, L-2) instead of L-2, drawn per block from a seeded generator.
  """

  def __init__(self, seq_len: int, cls_id: int, sep_id: int, pad_id: int,
               seed: int, *, short_seq_prob: float = 0.0):
    if seq_len < 4:
      raise ValueError(f'seq_len must be at least 4, got {seq_len}')
    self.seq_len, self.cls_id, self.sep_id, self.pad_id = (
        seq_len, cls_id, sep_id, pad_id)
    self.short_seq_prob = short_seq_prob
    self._max_tokens = seq_len - 2  # [CLS] block [SEP]
    self._rng = np.random.default_rng(seed)
    self.stats = BuildStats()

  def __call__(self, documents: Iterable[Sequence[Sequence[int]]]
               ) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """Yields (input_ids [L] int32, segment_ids [L] int32, 0) per block."""
    for document in documents:
      block, length = [], 0
      target = self._draw_target()
      for sentence in split_document(document, self._max_tokens, self.stats):
        # A sentence that would take the block past its target starts the
        # next one; every piece fits an empty block.
        if block and length + len(sentence) > target:
          yield self._make_example(block, length)
          block, length = [], 0
          target = self._draw_target()
        block.append(sentence)
        length += len(sentence)
      if block:
        yield self._make_example(block, length)

  def _draw_target(self) -> int:
    if self._rng.random() < self.short_seq_prob:
      return int(self._rng.integers(2, self._max_tokens + 1))
    return self._max_tokens

  def _make_example(self, block, length):
    self.stats.examples += 1
    tokens = np.fromiter(itertools.chain.from_iterable(block), np.int32,
                         count=length)
    return (*pack_row(self.seq_len, self.cls_id, self.sep_id, self.pad_id,
                      tokens), 0)
