"""Tests for data_pipelines.example_store: built rows on disk, read by index."""

import os

import numpy as np
import pytest

from data_pipelines.example_store import ExampleStore, write_store
from lm_jax.errors import InputError

SEQ_LEN = 8


def _rows(count: int, offset: int = 0):
  """Distinct (ids, segments, label) rows: row i holds ids offset + i*L ...
  and label i % 2."""
  for i in range(count):
    ids = np.arange(SEQ_LEN, dtype=np.int32) + offset + i * SEQ_LEN
    segments = (np.arange(SEQ_LEN) >= i % SEQ_LEN).astype(np.int32)
    yield ids, segments, i % 2


def _leftovers(directory) -> list[str]:
  parent, name = os.path.split(directory)
  return [n for n in os.listdir(parent) if n.startswith(f'{name}.tmp-')]


class TestRoundTrip:

  def test_write_then_read(self, tmp_path):
    """Every row comes back unchanged, with the description in meta."""
    directory = str(tmp_path / 'store')
    rows = list(_rows(5))
    write_store(directory, iter(rows), SEQ_LEN, {'source': 'made up'})
    store = ExampleStore(directory)
    assert len(store) == 5
    assert store.seq_len == SEQ_LEN
    assert store.meta['source'] == 'made up'
    ids, segments, labels = store.gather(np.arange(5))
    assert ids.dtype == segments.dtype == np.int32
    np.testing.assert_array_equal(ids, [r[0] for r in rows])
    np.testing.assert_array_equal(segments, [r[1] for r in rows])
    np.testing.assert_array_equal(labels, [r[2] for r in rows])
    assert not _leftovers(directory)

  def test_many_rows_across_write_chunks(self, tmp_path):
    """Rows beyond the writer's 4096-row chunk are stored in order."""
    directory = str(tmp_path / 'store')
    write_store(directory, _rows(5000), SEQ_LEN, {})
    store = ExampleStore(directory)
    assert len(store) == 5000
    ids, _, _ = store.gather(np.array([0, 4095, 4096, 4999]))
    np.testing.assert_array_equal(ids[:, 0], [0, 4095 * SEQ_LEN,
                                              4096 * SEQ_LEN, 4999 * SEQ_LEN])

  def test_gather_keeps_requested_order(self, tmp_path):
    """gather returns rows in the order asked for, repeats included."""
    directory = str(tmp_path / 'store')
    rows = list(_rows(6))
    write_store(directory, iter(rows), SEQ_LEN, {})
    order = np.array([4, 1, 4, 0, 5, 1, 1])
    ids, segments, labels = ExampleStore(directory).gather(order)
    assert ids.shape == segments.shape == (len(order), SEQ_LEN)
    np.testing.assert_array_equal(ids, [rows[i][0] for i in order])
    np.testing.assert_array_equal(segments, [rows[i][1] for i in order])
    np.testing.assert_array_equal(labels, [rows[i][2] for i in order])
    assert ids.flags.c_contiguous and segments.flags.c_contiguous


class TestFailures:

  def test_zero_rows_is_input_error_and_leaves_nothing(self, tmp_path):
    """No rows raises InputError naming the source; no directory remains."""
    directory = str(tmp_path / 'store')
    with pytest.raises(InputError, match='my-corpus.txt'):
      write_store(directory, iter([]), SEQ_LEN, {'source': 'my-corpus.txt'})
    assert os.listdir(tmp_path) == []

  def test_failed_build_leaves_no_partial_state(self, tmp_path):
    """An error while rows are produced keeps the old store and no temp dir."""
    directory = str(tmp_path / 'store')
    write_store(directory, _rows(3), SEQ_LEN, {})

    def failing_rows():
      yield from _rows(2, offset=1000)
      raise InputError('bad line')

    with pytest.raises(InputError, match='bad line'):
      write_store(directory, failing_rows(), SEQ_LEN, {})
    assert not _leftovers(directory)
    ids, _, _ = ExampleStore(directory).gather(np.arange(3))
    np.testing.assert_array_equal(ids, [r[0] for r in _rows(3)])


class TestReplace:

  def test_old_store_stays_until_new_one_is_complete(self, tmp_path):
    """Rewriting a store swaps it in whole; readers see old or new only."""
    directory = str(tmp_path / 'store')
    write_store(directory, _rows(3), SEQ_LEN, {'source': 'old'})
    seen_while_writing = []

    def new_rows():
      for row in _rows(4, offset=1000):
        # Mid-write, the old store is still in place and intact.
        old = ExampleStore(directory)
        seen_while_writing.append((old.meta['source'], len(old)))
        yield row

    write_store(directory, new_rows(), SEQ_LEN, {'source': 'new'})
    assert seen_while_writing == [('old', 3)] * 4
    store = ExampleStore(directory)
    assert (store.meta['source'], len(store)) == ('new', 4)
    ids, _, _ = store.gather(np.arange(4))
    np.testing.assert_array_equal(ids, [r[0] for r in _rows(4, offset=1000)])
    assert not _leftovers(directory)
    assert os.listdir(tmp_path) == ['store']


def test_token_counts_cover_every_row(tmp_path):
  """Counts of each id over all rows, across write chunks, padded to V."""
  directory = str(tmp_path / 'store')
  rows = [(np.full(SEQ_LEN, i % 7, np.int32), np.zeros(SEQ_LEN, np.int32), 0)
          for i in range(5000)]
  write_store(directory, iter(rows), SEQ_LEN, {})
  counts = ExampleStore(directory).token_counts(10)
  expected = np.bincount([i % 7 for i in range(5000)], minlength=10) * SEQ_LEN
  np.testing.assert_array_equal(counts, expected)
