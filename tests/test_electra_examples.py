"""Tests for data_pipelines.electra_examples: ELECTRA's example packing (§1.9)."""

import numpy as np
import pytest

from data_pipelines.electra_examples import ElectraExampleBuilder

PAD, CLS, SEP = 0, 1, 2
FIRST_WORD = 10


def _builder(seq_len: int = 32, seed: int = 0) -> ElectraExampleBuilder:
  return ElectraExampleBuilder(seq_len, cls_id=CLS, sep_id=SEP, pad_id=PAD,
                               seed=seed)


def _document(num_sentences: int, sentence_len: int, start: int = FIRST_WORD):
  """Sentences of equal length whose tokens are distinct, increasing ids."""
  return [list(range(start + i * sentence_len, start + (i + 1) * sentence_len))
          for i in range(num_sentences)]


def _split(ids: np.ndarray):
  """(A, B or None, number of real tokens) of a well-formed row."""
  assert ids[0] == CLS
  seps = np.flatnonzero(ids == SEP)
  first_sep = seps[0]
  a = ids[1:first_sep].tolist()
  if len(seps) == 1:
    return a, None, first_sep + 1
  assert len(seps) == 2
  return a, ids[first_sep + 1:seps[1]].tolist(), seps[1] + 1


def _flatten(sentences) -> list[int]:
  return [token for sentence in sentences for token in sentence]


def _content_tokens(examples) -> list[int]:
  """The A and B tokens of the rows, in row order."""
  content = []
  for ids, _, _ in examples:
    a, b, _ = _split(ids)
    content += a + (b or [])
  return content


def _examples(documents, seq_len: int = 32, seed: int = 0):
  return list(_builder(seq_len, seed)(documents))


@pytest.fixture(scope='module')
def long_document_examples():
  """2000+ examples from one long document of 4-token sentences, L = 64."""
  document = _document(35_000, 4)
  return document, _examples([document], seq_len=64, seed=7)


class TestLayout:

  def test_rows_and_segments(self, long_document_examples):
    """[CLS] A [SEP] (B [SEP]) [PAD]...; segments 0 to the first [SEP], 1 for B."""
    _, examples = long_document_examples
    for ids, segments, label in examples:
      assert label == 0
      assert ids.shape == segments.shape == (64,)
      assert ids.dtype == segments.dtype == np.int32
      a, b, length = _split(ids)
      assert a and b != []  # no empty segment
      assert (ids[length:] == PAD).all()
      assert PAD not in ids[:length]
      expected = [0] * (len(a) + 2)
      if b is not None:
        expected += [1] * (len(b) + 1)
      expected += [0] * (64 - length)
      assert segments.tolist() == expected

  def test_single_segment_fraction(self, long_document_examples):
    """About 10% of examples have no second segment."""
    _, examples = long_document_examples
    # The last example may be single just because the document ended.
    single = [_split(ids)[1] is None for ids, _, _ in examples[:-1]]
    assert len(single) > 2000
    # Binomial std at n > 2000 is < 0.007; allow ~4.5 std.
    assert abs(np.mean(single) - 0.1) < 0.03

  def test_short_targets_occur(self, long_document_examples):
    """~5% of targets are randint(5, L): some rows end early mid-document."""
    _, examples = long_document_examples
    lengths = np.array([_split(ids)[2] for ids, _, _ in examples[:-1]])
    # At target L an example collects >= L tokens and is cut to exactly L;
    # only a short target leaves padding before the document's end.
    short = lengths < 64
    assert 0.02 < short.mean() < 0.08
    assert (lengths < 32).any()


class TestContent:

  def test_short_documents_are_kept_whole_and_in_order(self):
    """Documents too short to be truncated come out as their tokens, in order."""
    # <= 28 tokens per document: with the 3 specials nothing is ever cut at
    # L = 32, whatever the (possibly short) target splits them into.
    documents = [_document(4 + d % 4, 4, start=1000 * (d + 1))
                 for d in range(300)]
    pieces = [[] for _ in documents]
    examples = _examples(documents, seq_len=32)
    for ids, _, _ in examples:
      a, b, _ = _split(ids)
      content = a + (b or [])
      owner = content[0] // 1000 - 1
      assert all(t // 1000 - 1 == owner for t in content)  # no mixing
      pieces[owner] += content
    for document, piece in zip(documents, pieces):
      assert piece == _flatten(document)
    # Short targets split some documents into several examples.
    assert len(examples) > len(documents)

  def test_tokens_follow_the_document(self, long_document_examples):
    """Rows hold the document's tokens in order, each exactly once."""
    document, examples = long_document_examples
    # Equal-length sentences never make a later sentence join A after an
    # earlier one went to B, so the rows read as the document itself.
    assert _content_tokens(examples) == _flatten(document)

  def test_empty_sentences_are_skipped(self):
    """Empty sentences add nothing and make no empty examples."""
    examples = _examples([[[], [11, 12], [], [13]], [[]]], seq_len=16)
    assert len(examples) == 1
    a, b, _ = _split(examples[0][0])
    assert a + (b or []) == [11, 12, 13]


class TestNothingLost:

  @pytest.mark.parametrize('document', [
      [list(range(FIRST_WORD, FIRST_WORD + 100))],
      [[5, 6, 7], list(range(FIRST_WORD, FIRST_WORD + 100))],
      [list(range(FIRST_WORD, FIRST_WORD + 20)),
       list(range(200, 300)), list(range(400, 500))],
  ])
  def test_long_sentences_are_split(self, document):
    """Sentences longer than L are split over rows, not cut."""
    for seed in range(20):  # both segment layouts and both split choices
      builder = _builder(seq_len=16, seed=seed)
      examples = list(builder([document]))
      for ids, segments, _ in examples:
        assert ids.shape == segments.shape == (16,)
      assert sorted(_content_tokens(examples)) == sorted(_flatten(document))
      assert builder.stats.split_lines == sum(len(s) > 14 for s in document)
      assert builder.stats.truncated_tokens == 0

  def test_one_line_documents_of_thousands_of_tokens(self):
    """Whole documents on one line (no sentence splitting) lose no token."""
    documents = [[list(range(100_000 * d + FIRST_WORD,
                             100_000 * d + FIRST_WORD + n))]
                 for d, n in enumerate([3000, 5, 7777, 129, 128, 127, 2])]
    examples = _examples(documents, seq_len=128, seed=1)
    content = _content_tokens(examples)
    assert sorted(content) == sorted(_flatten(_flatten(documents)))
    # Only the short targets and each document's last row leave room unused.
    full = np.mean([_split(ids)[2] == 128 for ids, _, _ in examples])
    assert full > 0.8

  def test_overflow_starts_the_next_example(self):
    """Tokens a row cannot hold open the next row of the same document."""
    # Sentences of 9 at L = 16: an example collects 18 tokens and holds 13
    # or 14 of them, so (but for short targets) each one overflows; the
    # reference would drop the overflow.
    documents = [_document(50, 9, start=1000 * (d + 1)) for d in range(3)]
    examples = _examples(documents, seq_len=16, seed=5)
    pieces = [[] for _ in documents]
    for example in examples:
      content = _content_tokens([example])
      owner = content[0] // 1000 - 1
      assert all(t // 1000 - 1 == owner for t in content)  # no mixing
      pieces[owner] += content
    for document, piece in zip(documents, pieces):
      assert piece == _flatten(document)

  def test_mixed_sentence_lengths(self):
    """Random lengths, where A may take a sentence after B began: no loss."""
    rng = np.random.default_rng(0)
    documents, next_id = [], FIRST_WORD
    for _ in range(40):
      document = []
      for length in rng.integers(0, 80, size=int(rng.integers(1, 30))):
        document.append(list(range(next_id, next_id + length)))
        next_id += length
      documents.append(document)
    builder = _builder(seq_len=32, seed=2)
    examples = list(builder(documents))
    tokens = _flatten(_flatten(documents))
    content = _content_tokens(examples)
    assert len(content) == len(set(content))  # no token twice
    assert sorted(content) == tokens
    assert builder.stats.tokens == len(tokens)
    assert builder.stats.examples == len(examples)


class TestStats:

  def test_counts_on_a_hand_example(self):
    """Documents, lines, tokens, splits and examples, exactly."""
    documents = [[list(range(10, 15)), [], list(range(100, 200))],
                 [[]],
                 [[7, 8, 9]]]
    builder = _builder(seq_len=16)
    examples = list(builder(documents))
    stats = builder.stats
    assert (stats.documents, stats.sentences, stats.tokens,
            stats.split_lines, stats.truncated_tokens) == (2, 3, 108, 1, 0)
    assert stats.examples == len(examples)
    assert sorted(_content_tokens(examples)) == sorted(
        [*range(10, 15), *range(100, 200), 7, 8, 9])


class TestSeeding:

  def test_same_seed_same_examples(self):
    """The same documents and seed give identical rows."""
    document = _document(2000, 3)
    first = _examples([document], seed=3)
    second = _examples([document], seed=3)
    assert len(first) == len(second)
    for (ids1, seg1, label1), (ids2, seg2, label2) in zip(first, second):
      np.testing.assert_array_equal(ids1, ids2)
      np.testing.assert_array_equal(seg1, seg2)
      assert label1 == label2 == 0

  def test_different_seed_different_examples(self):
    """Another seed changes the split points and segment layout."""
    document = _document(2000, 3)
    first = np.stack([ids for ids, _, _ in _examples([document], seed=3)])
    second = np.stack([ids for ids, _, _ in _examples([document], seed=4)])
    assert first.shape != second.shape or not np.array_equal(first, second)

  def test_rejects_tiny_seq_len(self):
    """seq_len below 5 cannot hold [CLS] A [SEP] B [SEP]."""
    with pytest.raises(ValueError):
      _builder(seq_len=4)
