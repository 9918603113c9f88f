"""BERT's NSP or ALBERT's SOP sentence-pair examples (algorithms.md §1.1, §1.8).

Each document is cut into chunks of whole sentences up to a target length; a
chunk gives one `[CLS] A [SEP] B [SEP]` example whose label is the pair task's:
  nsp: B is the rest of the chunk (0, IsNext), or, half of the time and
       always for a one-sentence chunk, the start of a random other document
       (1, NotNext); the chunk's unused sentences then start the next chunk.
  sop: B is the rest of the chunk, swapped with A half of the time (1,
       swapped; 0 in order). A one-sentence chunk still takes B from a random
       document and is labelled 1, as in ALBERT.
The random-next draw needs every document of the host, so the builder keeps
them all in memory, each as one flat token array with its sentence bounds.

Departures from the reference: a line longer than L-3 is split into runs of
L-3 tokens, each cut in two halves of at most ceil((L-3)/2) tokens, so that a
split line still makes proper A/B pairs where the reference would truncate it;
and the final shuffle of all instances is left to the example store, which
reads rows in a fresh permutation per epoch.
"""
import itertools
from typing import Iterable, Iterator, Sequence

import numpy as np

from data_pipelines.sentences import (BuildStats, pack_row, split_document,
                                      split_long)

# Part of the cache key of built examples: bump it whenever a change here
# changes the examples a corpus gives.
VERSION = 1

IS_NEXT, NOT_NEXT = 0, 1  # nsp labels
IN_ORDER, SWAPPED = 0, 1  # sop labels
RANDOM_DOCUMENT_TRIES = 10  # draws to find a document other than the current


class PairExampleBuilder:
  """Turns documents (lists of token-id sentences) into labelled pair rows."""

  def __init__(self, seq_len: int, cls_id: int, sep_id: int, pad_id: int,
               seed: int, *, task: str = 'nsp', short_seq_prob: float = 0.1,
               dupe_factor: int = 1):
    if seq_len < 5:
      raise ValueError(f'seq_len must be at least 5, got {seq_len}')
    if task not in ('nsp', 'sop'):
      raise ValueError(f"task must be 'nsp' or 'sop', got {task!r}")
    if dupe_factor < 1:
      raise ValueError(f'dupe_factor must be at least 1, got {dupe_factor}')
    self.seq_len, self.cls_id, self.sep_id, self.pad_id = (
        seq_len, cls_id, sep_id, pad_id)
    self.task, self.short_seq_prob, self.dupe_factor = (
        task, short_seq_prob, dupe_factor)
    self.max_num_tokens = seq_len - 3  # [CLS] A [SEP] B [SEP]
    self._rng = np.random.default_rng(seed)
    self.stats = BuildStats()

  def __call__(self, documents: Iterable[Sequence[Sequence[int]]]
               ) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """Yields (input_ids [L] int32, segment_ids [L] int32, label) per example.

    `stats.truncated_tokens` is known once the last example is out.
    """
    self._documents = []  # (tokens [T] int32, sentence bounds [S+1]) each
    for document in documents:
      sentences = split_document(document, self.max_num_tokens, self.stats,
                                 split=self._split_line)
      if not sentences:
        continue
      lengths = [len(sentence) for sentence in sentences]
      tokens = np.fromiter(itertools.chain.from_iterable(sentences), np.int32,
                           count=sum(lengths))
      self._documents.append((tokens, np.cumsum([0] + lengths)))
    order = self._rng.permutation(len(self._documents))
    self._documents = [self._documents[i] for i in order]
    # Which input tokens made it into some example, over all passes.
    self._covered = [np.zeros(len(tokens), bool)
                     for tokens, _ in self._documents]
    for _ in range(self.dupe_factor):  # each pass pairs differently
      for index in range(len(self._documents)):
        yield from self._document_examples(index)
    self.stats.truncated_tokens = self.stats.tokens - int(
        sum(covered.sum() for covered in self._covered))
    self._documents = self._covered = None  # free the corpus

  def _split_line(self, line):
    """Runs of L-3 tokens (a full example), each halved into A and B sizes.

    Two consecutive halves add up to exactly the target L-3, so a chunk that
    starts on a run closes on its two halves with nothing to truncate. Pieces
    of (L-3)//2 would fall a token short when L-3 is odd, pull a third piece
    into every chunk and lose a third of the line to truncation.
    """
    return [half for run in split_long(line, self.max_num_tokens)
            for half in split_long(run, (len(run) + 1) // 2)]

  def _document_examples(self, index):
    """One pass of BERT's create_instances_from_document over a document."""
    rng = self._rng
    bounds = self._documents[index][1]
    num_sentences = len(bounds) - 1
    target = self.max_num_tokens
    if rng.random() < self.short_seq_prob:
      target = int(rng.integers(2, self.max_num_tokens + 1))
    start = 0
    while start < num_sentences:
      # The chunk takes sentences until it reaches the target or the end.
      end = int(np.searchsorted(bounds, bounds[start] + target))
      end = min(max(end, start + 1), num_sentences)
      size = end - start
      a_end = start + (1 if size == 1 else int(rng.integers(1, size)))
      first = (index, bounds[start], bounds[a_end])
      if size == 1 or (self.task == 'nsp' and rng.random() < 0.5):
        second = self._random_next(index, target - (first[2] - first[1]))
        label = NOT_NEXT if self.task == 'nsp' else SWAPPED
        end = a_end  # the unused sentences start the next chunk
      else:
        second = (index, bounds[a_end], bounds[end])
        label = IS_NEXT if self.task == 'nsp' else IN_ORDER
        if self.task == 'sop' and rng.random() < 0.5:
          first, second, label = second, first, SWAPPED
      yield self._make_example(*self._truncate(first, second), label)
      start = end

  def _random_next(self, index, target_length):
    """B from a random other document: from a random sentence, to the target."""
    for _ in range(RANDOM_DOCUMENT_TRIES):
      other = int(self._rng.integers(len(self._documents)))
      if other != index:
        break
    bounds = self._documents[other][1]
    num_sentences = len(bounds) - 1
    start = int(self._rng.integers(num_sentences))
    end = int(np.searchsorted(bounds, bounds[start] + target_length))
    end = min(max(end, start + 1), num_sentences)
    return other, bounds[start], bounds[end]

  def _truncate(self, first, second):
    """BERT's truncate_seq_pair on (document, start, end) token ranges.

    Removes one token at a time from the longer segment (B on a tie), from
    its front or its back with probability 0.5 each.
    """
    (a_doc, a_start, a_end), (b_doc, b_start, b_end) = first, second
    excess = (a_end - a_start) + (b_end - b_start) - self.max_num_tokens
    for from_front in self._rng.random(max(0, excess)) < 0.5:
      if a_end - a_start > b_end - b_start:
        if from_front:
          a_start += 1
        else:
          a_end -= 1
      elif from_front:
        b_start += 1
      else:
        b_end -= 1
    return (a_doc, a_start, a_end), (b_doc, b_start, b_end)

  def _make_example(self, first, second, label):
    """[CLS] A [SEP] B [SEP] [PAD]...; segments 0 to the first [SEP], then 1."""
    self.stats.examples += 1
    a_doc, a_start, a_end = first
    b_doc, b_start, b_end = second
    self._covered[a_doc][a_start:a_end] = True
    self._covered[b_doc][b_start:b_end] = True
    ids, segments = pack_row(
        self.seq_len, self.cls_id, self.sep_id, self.pad_id,
        self._documents[a_doc][0][a_start:a_end],
        self._documents[b_doc][0][b_start:b_end])
    return ids, segments, label
