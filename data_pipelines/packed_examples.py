"""GPT's causal-LM rows: the corpus as one packed token stream (§1.10).

GPT-2/GPT-3 style packing. Each document's lines are concatenated, each
followed by `line_break_ids` (the tokenizer's ids of '\n': a byte-level BPE
would otherwise glue one line's last word to the next line's first; empty
for SentencePiece, whose pieces carry their spaces), and the document by one
end-of-text token; the stream of all documents, in order, is
cut into consecutive rows of exactly `seq_len` tokens. Rows cross document
boundaries (the end-of-text token is the only boundary the model sees), so
there is no padding and no special token besides end-of-text, and every token
of the corpus is in a row except the final remainder of the stream, shorter
than a row.

The causal objective predicts token t+1 from tokens <= t inside a row and
shifts the targets itself, so a row holds `seq_len` tokens, not `seq_len + 1`:
it gives seq_len - 1 predictions, and a row's first token is not predicted
from the end of the previous row.

An empty document (no tokens once empty sentences are skipped) is skipped
entirely: it adds no end-of-text token, as the stream would otherwise hold
back-to-back end-of-text tokens with nothing to model between them.
"""
from typing import Iterable, Iterator, Sequence

import numpy as np

from data_pipelines.sentences import BuildStats

# Part of the cache key of built examples: bump it whenever a change here
# changes the examples a corpus gives.
VERSION = 2


class PackedExampleBuilder:
  """Packs documents into fixed-length rows of a contiguous token stream.

  Stats: documents, sentences and tokens count the non-empty input documents,
  sentences and their tokens (end-of-text and line-break tokens are not
  input, so not in `tokens`); split_lines stays 0, nothing is split;
  truncated_tokens counts the input tokens of the dropped final remainder
  (its separators not included), so `tokens - truncated_tokens` input tokens
  are in the rows.
  """

  def __init__(self, seq_len: int, eot_id: int, seed: int,
               line_break_ids: Sequence[int] = ()):
    # Packing draws nothing at random: the seed is here for the builders'
    # common interface only, and a corpus always gives the same rows.
    del seed
    if seq_len < 2:  # the objective needs one input and one target
      raise ValueError(f'seq_len must be at least 2, got {seq_len}')
    self.seq_len, self.eot_id = seq_len, eot_id
    self.line_break_ids = list(line_break_ids)
    self.stats = BuildStats()

  def __call__(self, documents: Iterable[Sequence[Sequence[int]]]
               ) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """Yields (input_ids [L] int32, segment_ids [L] int32 zeros, 0) per row."""
    seq_len, stats = self.seq_len, self.stats
    # The stream not yet in a row (always shorter than a row between
    # documents), and where its separators (end-of-text, line breaks) are,
    # to tell the input tokens of the dropped remainder from them even if
    # their ids also occur in the text.
    pending, separator_offsets = [], []
    line_break = self.line_break_ids
    for document in documents:
      start = len(pending)
      for sentence in document:
        if not len(sentence):
          continue
        stats.sentences += 1
        stats.tokens += len(sentence)
        pending.extend(sentence)
        separator_offsets.extend(range(len(pending),
                                       len(pending) + len(line_break)))
        pending.extend(line_break)
      if len(pending) == start:  # an empty document adds nothing
        continue
      stats.documents += 1
      separator_offsets.append(len(pending))
      pending.append(self.eot_id)
      # Cut all full rows at once, so a long document costs linear time.
      num_rows = len(pending) // seq_len
      if not num_rows:
        continue
      used = num_rows * seq_len
      ids_NL = np.asarray(pending[:used], np.int32).reshape(num_rows, seq_len)
      del pending[:used]
      separator_offsets = [offset - used for offset in separator_offsets
                           if offset >= used]
      stats.examples += num_rows
      for ids_L in ids_NL:
        yield ids_L, np.zeros(seq_len, np.int32), 0
    stats.truncated_tokens += len(pending) - len(separator_offsets)
