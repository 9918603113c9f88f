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
    for ids, segments in examples:
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
    single = [_split(ids)[1] is None for ids, _ in examples[:-1]]
    assert len(single) > 2000
    # Binomial std at n > 2000 is < 0.007; allow ~4.5 std.
    assert abs(np.mean(single) - 0.1) < 0.03

  def test_short_targets_occur(self, long_document_examples):
    """~5% of targets are randint(5, L): some rows end early mid-document."""
    _, examples = long_document_examples
    lengths = np.array([_split(ids)[2] for ids, _ in examples[:-1]])
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
    for ids, _ in examples:
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
    """Rows hold consecutive document tokens; only truncated tails are lost."""
    document, examples = long_document_examples
    tokens = _flatten(document)
    next_start = 0
    for ids, _ in examples:
      a, b, _ = _split(ids)
      content = a + (b or [])
      start = content[0] - FIRST_WORD
      # Each example starts at the first sentence the previous one did not
      # take; a row loses at most its overshoot (< one sentence) + 3 tokens.
      assert start % 4 == 0
      assert next_start <= start < next_start + 4 + 3
      assert content == tokens[start:start + len(content)]
      next_start = start + len(content)
    assert next_start <= len(tokens)

  def test_empty_sentences_are_skipped(self):
    """Empty sentences add nothing and make no empty examples."""
    examples = _examples([[[], [11, 12], [], [13]], [[]]], seq_len=16)
    assert len(examples) == 1
    a, b, _ = _split(examples[0][0])
    assert a + (b or []) == [11, 12, 13]


class TestTruncation:

  @pytest.mark.parametrize('document', [
      [list(range(FIRST_WORD, FIRST_WORD + 100))],
      [[5, 6, 7], list(range(FIRST_WORD, FIRST_WORD + 100))],
      [list(range(FIRST_WORD, FIRST_WORD + 20)),
       list(range(200, 300)), list(range(400, 500))],
  ])
  def test_long_sentences_are_cut_to_length(self, document):
    """Sentences longer than L are truncated to fit the row exactly."""
    for seed in range(20):  # both segment layouts and both split choices
      for ids, segments in _examples([document], seq_len=16, seed=seed):
        assert ids.shape == segments.shape == (16,)
        _, _, length = _split(ids)
        assert length == 16


class TestSeeding:

  def test_same_seed_same_examples(self):
    """The same documents and seed give identical rows."""
    document = _document(2000, 3)
    first = _examples([document], seed=3)
    second = _examples([document], seed=3)
    assert len(first) == len(second)
    for (ids1, seg1), (ids2, seg2) in zip(first, second):
      np.testing.assert_array_equal(ids1, ids2)
      np.testing.assert_array_equal(seg1, seg2)

  def test_different_seed_different_examples(self):
    """Another seed changes the split points and segment layout."""
    document = _document(2000, 3)
    first = np.stack([ids for ids, _ in _examples([document], seed=3)])
    second = np.stack([ids for ids, _ in _examples([document], seed=4)])
    assert first.shape != second.shape or not np.array_equal(first, second)

  def test_rejects_tiny_seq_len(self):
    """seq_len below 5 cannot hold [CLS] A [SEP] B [SEP]."""
    with pytest.raises(ValueError):
      _builder(seq_len=4)
