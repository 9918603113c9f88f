"""Tests for data_pipelines.sentences: long-line splitting and build counts."""

import numpy as np
import pytest

from data_pipelines.sentences import BuildStats, split_document, split_long


class TestSplitLong:

  def test_a_line_that_fits_comes_back_whole(self):
    line = [5, 6, 7]
    assert split_long(line, 3) == [line]
    assert split_long([], 3) == [[]]

  @pytest.mark.parametrize('length,max_tokens', [
      (4, 3), (7, 3), (9, 3), (10, 3), (126, 125), (3000, 126), (7777, 61),
  ])
  def test_pieces_fit_and_lose_nothing(self, length, max_tokens):
    """Consecutive full pieces, then the rest."""
    line = list(range(100, 100 + length))
    pieces = split_long(line, max_tokens)
    assert [t for piece in pieces for t in piece] == line
    assert len(pieces) == -(-length // max_tokens)
    assert all(len(piece) == max_tokens for piece in pieces[:-1])
    assert 1 <= len(pieces[-1]) <= max_tokens

  def test_numpy_lines(self):
    pieces = split_long(np.arange(10, dtype=np.int32), 4)
    assert [piece.tolist() for piece in pieces] == [[0, 1, 2, 3], [4, 5, 6, 7],
                                                    [8, 9]]

  def test_rejects_empty_pieces(self):
    with pytest.raises(ValueError):
      split_long([1, 2], 0)


class TestSplitDocument:

  def test_counts_and_pieces(self):
    """Empty lines are skipped; lines past max_tokens are split."""
    stats = BuildStats()
    document = [[1, 2], [], list(range(10, 20)), [3, 4, 5]]
    pieces = split_document(document, 5, stats)
    assert pieces == [[1, 2], [10, 11, 12, 13, 14], [15, 16, 17, 18, 19],
                      [3, 4, 5]]
    assert (stats.documents, stats.sentences, stats.tokens,
            stats.split_lines) == (1, 3, 15, 1)

  def test_custom_split(self):
    """`split` replaces the default splitting of long lines only."""
    stats = BuildStats()
    pieces = split_document([[1, 2, 3], [4, 5, 6, 7]], 3, stats,
                            split=lambda line: split_long(line, 2))
    assert pieces == [[1, 2, 3], [4, 5], [6, 7]]
    assert stats.split_lines == 1

  def test_an_empty_document_is_not_counted(self):
    stats = BuildStats()
    assert split_document([[], []], 5, stats) == []
    assert split_document([], 5, stats) == []
    assert stats == BuildStats()


def test_summary():
  stats = BuildStats(documents=1234, sentences=20_000, tokens=500_000,
                     split_lines=3, examples=4100, truncated_tokens=0)
  assert stats.summary() == (
      '1,234 documents, 20,000 sentences, 500,000 tokens (3 long lines split)'
      ' -> 4,100 examples, 0 tokens truncated')
