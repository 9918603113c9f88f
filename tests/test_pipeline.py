"""Tests for data_pipelines.pipeline: cached examples and step-indexed batches."""

import functools
import itertools

import ml_collections
import numpy as np
import pytest

from conftest import FakeTokenizer
from data_pipelines import electra_examples
from data_pipelines import masking
from data_pipelines import pipeline
from data_pipelines.example_store import ExampleStore, write_store

SEQ_LEN = 16
PAD, CLS, SEP, MASK, UNK = 0, 1, 2, 3, 4


def _write_corpus(path, num_documents: int = 8, seed: int = 0) -> str:
  """Documents of 10 lines of 3-12 random word ids, blank-line separated."""
  rng = np.random.default_rng(seed)
  documents = []
  for _ in range(num_documents):
    lines = [' '.join(map(str, rng.integers(10, 1000, rng.integers(3, 13))))
             for _ in range(10)]
    documents.append('\n'.join(lines))
  path.write_text('\n\n'.join(documents) + '\n')
  return str(path)


def _data_cfg(train_files: str, cache_dir: str, seed: int = 0):
  return ml_collections.ConfigDict(dict(
      train_files=train_files, tfds_name='', tfds_split='train',
      tfds_text_key='text', tfds_data_dir='', seq_len=SEQ_LEN, batch_size=4,
      seed=seed, cache_dir=cache_dir, prefetch=2, decode_errors='strict'))


def _make_builder(**kwargs):
  return electra_examples.ElectraExampleBuilder(
      SEQ_LEN, cls_id=CLS, sep_id=SEP, pad_id=PAD, **kwargs)


def _build(data_cfg, make_builder=_make_builder, process_index=0,
           process_count=1, log=None):
  return pipeline.build_or_load_examples(
      data_cfg, FakeTokenizer(), 'fake-tokenizer', make_builder, 'electra',
      process_index, process_count, log=log or (lambda _: None))


MASKER = functools.partial(
    masking.electra_mask, seed=0, mask_prob=0.15, mask_token_prob=0.85,
    pad_id=PAD, cls_id=CLS, sep_id=SEP, mask_id=MASK)


def _batches(store, batch_size=4, start_step=0, seed=0, **kwargs):
  return pipeline.batches(store, batch_size=batch_size, start_step=start_step,
                          seed=seed, masker=MASKER, **kwargs)


def _take(iterator, count: int) -> list[dict]:
  return list(itertools.islice(iterator, count))


def _assert_same_batches(first: list[dict], second: list[dict]) -> None:
  assert len(first) == len(second)
  for a, b in zip(first, second):
    assert a.keys() == b.keys()
    for key in a:
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.fixture(scope='module')
def built_store(tmp_path_factory):
  """The store built from a small corpus, in a cache of its own."""
  tmp = tmp_path_factory.mktemp('built')
  store = _build(_data_cfg(_write_corpus(tmp / 'corpus.txt'), str(tmp / 'cache')))
  assert 20 < len(store) < 200
  return store


@pytest.fixture
def numbered_store(tmp_path):
  """12 rows; row i is [CLS] 100*(i+1) ... [SEP], so input_ids name the row."""
  rows = []
  for i in range(12):
    ids = np.full(SEQ_LEN, PAD, np.int32)
    ids[0], ids[1:11], ids[11] = CLS, 100 * (i + 1) + np.arange(10), SEP
    rows.append((ids, np.zeros(SEQ_LEN, np.int32), i % 2))
  directory = str(tmp_path / 'store')
  write_store(directory, rows, SEQ_LEN, {'source': 'numbered'})
  return ExampleStore(directory)


def _row_numbers(batch_list) -> list[int]:
  return [int(ids[1]) // 100 - 1 for b in batch_list for ids in b['input_ids']]


class TestResume:

  @pytest.mark.parametrize('where', ['first step', 'mid epoch',
                                     'straddles epochs', 'next epoch'])
  def test_resumed_stream_matches_unbroken_stream(self, built_store, where):
    """Batch k is the same after advancing k steps or starting at step k."""
    last_in_epoch = (len(built_store) - 1) // 4  # the step holding its last row
    steps_in = {'first step': 1, 'mid epoch': last_in_epoch // 2,
                'straddles epochs': last_in_epoch,
                'next epoch': last_in_epoch + 2}[where]
    unbroken = _take(_batches(built_store), steps_in + 3)
    resumed = _take(_batches(built_store, start_step=steps_in), 3)
    _assert_same_batches(unbroken[steps_in:], resumed)

  def test_examples_do_not_depend_on_batch_size(self, built_store):
    """Stream position p gets the same row and mask at any batch size."""
    by_four = _take(_batches(built_store, batch_size=4), 3)
    by_two = _take(_batches(built_store, batch_size=2), 6)
    for key in by_four[0]:
      np.testing.assert_array_equal(
          np.concatenate([b[key] for b in by_four]),
          np.concatenate([b[key] for b in by_two]), err_msg=key)

  def test_steps_differ(self, built_store):
    """Consecutive steps hold different rows (the stream moves on)."""
    first, second = _take(_batches(built_store), 2)
    assert not np.array_equal(first['input_ids'], second['input_ids'])

  def test_seed_changes_the_order(self, built_store):
    """Another data seed gives another permutation of the rows."""
    (a,) = _take(_batches(built_store, seed=0), 1)
    (b,) = _take(_batches(built_store, seed=1), 1)
    assert not np.array_equal(a['input_ids'], b['input_ids'])


class TestBatchFormat:

  def test_shapes_and_dtypes(self, built_store):
    """Every key has the documented shape and dtype."""
    (batch,) = _take(_batches(built_store, batch_size=4), 1)
    n = masking.max_predictions(0.15, SEQ_LEN)
    expected = {
        'input_ids': ((4, SEQ_LEN), np.int32),
        'segment_ids': ((4, SEQ_LEN), np.int32),
        'input_mask': ((4, SEQ_LEN), np.int32),
        'masked_input_ids': ((4, SEQ_LEN), np.int32),
        'masked_lm_positions': ((4, n), np.int32),
        'masked_lm_ids': ((4, n), np.int32),
        'masked_lm_weights': ((4, n), np.float32),
        'sentence_label': ((4,), np.int32),
    }
    assert set(batch) == set(expected)
    for key, (shape, dtype) in expected.items():
      assert batch[key].shape == shape, key
      assert batch[key].dtype == dtype, key

  def test_rows_come_from_the_store(self, built_store):
    """input_ids/segment_ids of a batch are rows of the store."""
    (batch,) = _take(_batches(built_store), 1)
    all_ids, all_segments, _ = built_store.gather(np.arange(len(built_store)))
    stored = {(i.tobytes(), s.tobytes()) for i, s in zip(all_ids, all_segments)}
    for ids, segments in zip(batch['input_ids'], batch['segment_ids']):
      assert (ids.tobytes(), segments.tobytes()) in stored


class TestEpochs:

  def test_each_row_once_per_epoch_then_new_order(self, numbered_store):
    """An epoch visits every row exactly once; the next epoch reorders them."""
    batches = _take(_batches(numbered_store, batch_size=4), 6)
    first, second = _row_numbers(batches[:3]), _row_numbers(batches[3:])
    assert sorted(first) == list(range(12))
    assert sorted(second) == list(range(12))
    assert first != second

  def test_hosts_mask_the_same_rows_differently(self, numbered_store):
    """The example index includes the host, so hosts' masks differ."""
    (host0,) = _take(_batches(numbered_store, process_index=0,
                              process_count=2), 1)
    (host1,) = _take(_batches(numbered_store, process_index=1,
                              process_count=2), 1)
    np.testing.assert_array_equal(host0['input_ids'], host1['input_ids'])
    assert not np.array_equal(host0['masked_lm_positions'],
                              host1['masked_lm_positions'])


class TestCache:

  def test_second_call_reuses_the_store(self, tmp_path):
    """The same corpus and settings load the cached store without building."""
    data_cfg = _data_cfg(_write_corpus(tmp_path / 'c.txt'), str(tmp_path / 'cache'))
    logs = []
    first = _build(data_cfg, log=logs.append)
    assert any('Building' in line for line in logs)

    def must_not_build(**_):
      raise AssertionError('rebuilt a cached store')

    logs.clear()
    second = _build(data_cfg, make_builder=must_not_build, log=logs.append)
    assert not logs
    assert len(second) == len(first)
    rows = np.arange(len(first))
    np.testing.assert_array_equal(first.gather(rows)[0], second.gather(rows)[0])

  def test_changed_corpus_or_settings_rebuild(self, tmp_path):
    """Editing the corpus, or changing the seed or host layout, rebuilds."""
    path = tmp_path / 'c.txt'
    data_cfg = _data_cfg(_write_corpus(path), str(tmp_path / 'cache'))
    first = _build(data_cfg)
    built = []

    def counting_builder(**kwargs):
      built.append(kwargs)
      return _make_builder(**kwargs)

    with open(path, 'a') as f:
      f.write('\n' + ' '.join(['77'] * 40) + '\n')
    changed = _build(data_cfg, make_builder=counting_builder)
    assert len(built) == 1
    assert len(changed) > len(first)
    _build(_data_cfg(str(path), str(tmp_path / 'cache'), seed=1),
           make_builder=counting_builder)
    assert len(built) == 2
    _build(data_cfg, make_builder=counting_builder, process_index=1,
           process_count=2)
    assert len(built) == 3
    # The new content is what the rebuilt store holds.
    ids, _, _ = changed.gather(np.arange(len(changed)))
    assert (ids == 77).any()


class TestEvalBatches:

  def test_one_ordered_pass_padded_with_fixed_masks(self, numbered_store):
    """Every row once, in order; the last batch padded with all-pad rows; the
    same masks on every pass; labels carried through."""
    first = list(pipeline.eval_batches(numbered_store, batch_size=5,
                                       masker=MASKER))
    assert len(first) == 3 and all(len(b['input_ids']) == 5 for b in first)
    assert _row_numbers(first)[:12] == list(range(12))
    assert [int(x) for b in first for x in b['sentence_label']][:12] == [
        i % 2 for i in range(12)]
    pad = first[-1]
    assert not pad['input_mask'][2:].any() and not pad['masked_lm_weights'][2:].any()
    _assert_same_batches(first, list(pipeline.eval_batches(
        numbered_store, batch_size=5, masker=MASKER)))

  def test_max_batches_truncates_or_pads_with_empty_batches(self, numbered_store):
    two = list(pipeline.eval_batches(numbered_store, batch_size=5,
                                     masker=MASKER, max_batches=2))
    assert len(two) == 2 and _row_numbers(two) == list(range(10))
    five = list(pipeline.eval_batches(numbered_store, batch_size=5,
                                      masker=MASKER, max_batches=5))
    assert len(five) == 5
    assert not any(b['input_mask'].any() for b in five[3:])
