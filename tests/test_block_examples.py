"""Tests for data_pipelines.block_examples: SpanBERT's "doc" blocks (§1.5)."""

import numpy as np
import pytest

from conftest import DOC_STRIDE, numbered_documents
from data_pipelines.block_examples import BlockExampleBuilder

PAD, CLS, SEP = 0, 1, 2
FIRST_WORD = 10


def _builder(seq_len: int = 32, seed: int = 0, **kwargs) -> BlockExampleBuilder:
  return BlockExampleBuilder(seq_len, cls_id=CLS, sep_id=SEP, pad_id=PAD,
                             seed=seed, **kwargs)


def _documents(seed: int = 0, num_documents: int = 30, max_len: int = 40):
  return numbered_documents(seed, num_documents, lambda rng: rng.integers(
      1, max_len, size=int(rng.integers(1, 40))))


def _block(ids: np.ndarray) -> list[int]:
  """The block of a well-formed row: [CLS] block [SEP] [PAD]..."""
  assert ids[0] == CLS
  end = int(np.flatnonzero(ids == SEP)[0])
  assert (ids[end + 1:] == PAD).all()
  block = ids[1:end].tolist()
  assert block and CLS not in block and PAD not in block
  return block


def _flatten(sentences) -> list[int]:
  return [token for sentence in sentences for token in sentence]


class TestLayout:

  def test_rows_and_segments(self):
    """[CLS] block [SEP] [PAD]..., segment ids all 0, label 0."""
    examples = list(_builder(seq_len=32)(_documents()))
    assert len(examples) > 100
    for ids, segments, label in examples:
      assert ids.shape == segments.shape == (32,)
      assert ids.dtype == segments.dtype == np.int32
      assert len(_block(ids)) <= 30
      assert not segments.any()
      assert label == 0


class TestContent:

  def test_blocks_are_whole_sentences_packed_in_order(self):
    """Each block is the next run of sentences that fits, greedily."""
    documents = _documents(max_len=30)  # every sentence fits a block
    blocks = [_block(ids) for ids, _, _ in _builder(seq_len=32)(documents)]
    expected = []
    for document in documents:
      block = []
      for sentence in document:
        if block and len(block) + len(sentence) > 30:
          expected.append(block)
          block = []
        block = block + sentence
      expected.append(block)
    assert blocks == expected

  def test_no_token_lost(self):
    """Sentences longer than the block are split, not dropped."""
    documents = _documents(max_len=200)
    # Whole documents on one line, thousands of tokens long.
    documents += [[list(range(DOC_STRIDE * (100 + d) + FIRST_WORD,
                              DOC_STRIDE * (100 + d) + FIRST_WORD + n))]
                  for d, n in enumerate([3000, 7777, 31, 30, 29])]
    builder = _builder(seq_len=32)
    blocks = [_block(ids) for ids, _, _ in builder(documents)]
    for block in blocks:  # one document per block, in order
      assert len({t // DOC_STRIDE for t in block}) == 1
      assert block == list(range(block[0], block[0] + len(block)))
    assert _flatten(blocks) == _flatten(_flatten(documents))
    assert builder.stats.truncated_tokens == 0
    assert builder.stats.split_lines > 0

  def test_short_seq_prob(self):
    """A short target ends some blocks early mid-document."""
    documents = [[[t] for t in range(FIRST_WORD, FIRST_WORD + 20_000)]]
    plain = [_block(ids) for ids, _, _ in _builder(seq_len=32)(documents)]
    assert all(len(block) == 30 for block in plain[:-1])
    short = [_block(ids) for ids, _, _ in
             _builder(seq_len=32, short_seq_prob=0.1)(documents)]
    is_short = np.array([len(block) < 30 for block in short[:-1]])
    # P(randint(2, 30) < 30) = 28 / 29.
    assert 0.06 < is_short.mean() < 0.14
    assert _flatten(short) == _flatten(documents[0])


class TestStats:

  def test_counts_on_a_hand_example(self):
    """Blocks and counts of a small corpus, exactly."""
    def line(start, length):
      return list(range(start, start + length))

    documents = [[line(100, 4), line(200, 4), line(300, 4), line(400, 25), []],
                 [[]],
                 [line(500, 10), line(600, 1)]]
    builder = _builder(seq_len=12)  # blocks of up to 10 tokens
    blocks = [_block(ids) for ids, _, _ in builder(documents)]
    assert blocks == [line(100, 4) + line(200, 4), line(300, 4),
                      line(400, 10), line(410, 10), line(420, 5),
                      line(500, 10), line(600, 1)]
    stats = builder.stats
    assert (stats.documents, stats.sentences, stats.tokens, stats.split_lines,
            stats.examples, stats.truncated_tokens) == (2, 6, 48, 1, 7, 0)


class TestSeeding:

  def test_same_seed_same_examples(self):
    documents = _documents()
    first = list(_builder(seed=3, short_seq_prob=0.3)(documents))
    second = list(_builder(seed=3, short_seq_prob=0.3)(documents))
    assert len(first) == len(second)
    for (ids1, _, _), (ids2, _, _) in zip(first, second):
      np.testing.assert_array_equal(ids1, ids2)

  def test_rejects_tiny_seq_len(self):
    with pytest.raises(ValueError):
      _builder(seq_len=3)
