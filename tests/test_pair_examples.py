"""Tests for data_pipelines.pair_examples: NSP / SOP pairs (§1.1, §1.8)."""

import numpy as np
import pytest

from conftest import DOC_STRIDE, numbered_documents
from data_pipelines.pair_examples import PairExampleBuilder

PAD, CLS, SEP = 0, 1, 2


def _builder(seq_len: int = 64, seed: int = 0, **kwargs) -> PairExampleBuilder:
  return PairExampleBuilder(seq_len, cls_id=CLS, sep_id=SEP, pad_id=PAD,
                            seed=seed, **kwargs)


def _documents(num_documents: int = 100, num_sentences: int = 150,
               seed: int = 0):
  """Documents of 3-15 token sentences; ids say document and position."""
  return numbered_documents(seed, num_documents, lambda rng: rng.integers(
      3, 16, size=num_sentences))


def _split(ids: np.ndarray, segments: np.ndarray):
  """(A, B) of a well-formed row, after checking its layout."""
  seq_len = len(ids)
  assert ids.shape == segments.shape == (seq_len,)
  assert ids.dtype == segments.dtype == np.int32
  assert ids[0] == CLS
  seps = np.flatnonzero(ids == SEP)
  assert len(seps) == 2
  a, b = ids[1:seps[0]].tolist(), ids[seps[0] + 1:seps[1]].tolist()
  assert a and b
  assert (ids[seps[1] + 1:] == PAD).all()
  assert segments.tolist() == ([0] * (len(a) + 2) + [1] * (len(b) + 1)
                               + [0] * (seq_len - seps[1] - 1))
  return a, b


def _document_of(segment: list[int]) -> int:
  """The document a segment's tokens all come from, contiguous and in order."""
  assert segment == list(range(segment[0], segment[0] + len(segment)))
  assert segment[0] // DOC_STRIDE == segment[-1] // DOC_STRIDE
  return segment[0] // DOC_STRIDE


def _flatten(sentences) -> list[int]:
  return [token for sentence in sentences for token in sentence]


def _build(task: str):
  """(builder, [(A, B, label)]): a few thousand examples at L = 64."""
  builder = _builder(task=task, short_seq_prob=0.0)
  pairs = [(*_split(ids, segments), label)
           for ids, segments, label in builder(_documents())]
  return builder, pairs


@pytest.fixture(scope='module')
def nsp_built():
  return _build('nsp')


@pytest.fixture(scope='module')
def sop_built():
  return _build('sop')


@pytest.fixture(params=['nsp', 'sop'])
def built(request):
  return request.getfixturevalue(f'{request.param}_built')


class TestLayout:

  def test_rows_fit_and_segments_are_contiguous_text(self, built):
    """[CLS] A [SEP] B [SEP]: each segment a run of one document, <= L-3."""
    _, pairs = built
    assert len(pairs) > 2000
    for a, b, label in pairs:
      assert len(a) + len(b) <= 61
      assert label in (0, 1)
      _document_of(a)
      _document_of(b)

  def test_short_seq_prob_makes_short_rows(self):
    """With short_seq_prob = 1, targets are randint(2, L-3), mostly short."""
    builder = _builder(task='nsp', short_seq_prob=1.0)
    lengths = [len(a) + len(b) for a, b in (
        _split(ids, segments) for ids, segments, _ in builder(_documents(20)))]
    plain = _builder(task='nsp', short_seq_prob=0.0)
    plain_lengths = [len(a) + len(b) for a, b in (
        _split(ids, segments) for ids, segments, _ in plain(_documents(20)))]
    assert np.mean(lengths) < 0.8 * np.mean(plain_lengths)


class TestLabels:

  def test_balance(self, built):
    """Half the pairs are negatives (one-sentence chunks add a few more)."""
    _, pairs = built
    assert 0.45 < np.mean([label for _, _, label in pairs]) < 0.55

  def test_nsp_random_next_comes_from_another_document(self, nsp_built):
    _, pairs = nsp_built
    for a, b, label in pairs:
      if label == 1:
        assert _document_of(a) != _document_of(b)
      else:  # B is the rest of A's chunk
        assert _document_of(a) == _document_of(b)
        assert b[0] > a[-1]
        if len(a) + len(b) < 61:  # not truncated: B starts right after A
          assert b[0] == a[-1] + 1

  def test_sop_swapped_pairs_put_b_before_a(self, sop_built):
    _, pairs = sop_built
    swapped = random_document = 0
    for a, b, label in pairs:
      if _document_of(a) != _document_of(b):  # a one-sentence chunk
        assert label == 1
        random_document += 1
      elif label == 1:
        assert a[0] > b[-1]
        swapped += 1
      else:
        assert b[0] > a[-1]
    # Documents end in a one-sentence chunk now and then, not often.
    assert 0 < random_document < 0.05 * swapped

  def test_sop_one_sentence_chunk_takes_a_random_document(self):
    """A chunk of one sentence pairs it with another document, label 1."""
    documents = [[list(range(DOC_STRIDE * (d + 1), DOC_STRIDE * (d + 1) + 50))]
                 for d in range(20)]
    for ids, segments, label in _builder(task='sop')(documents):
      a, b = _split(ids, segments)
      assert label == 1
      assert _document_of(a) != _document_of(b)


class TestCoverage:

  def test_truncation_is_counted(self, built):
    """stats.truncated_tokens = input tokens in no example, and > 0 here."""
    builder, pairs = built
    seen = set()
    for a, b, _ in pairs:
      seen.update(a)
      seen.update(b)
    tokens = _flatten(_flatten(_documents()))
    lost = len(set(tokens) - seen)
    # A chunk overshoots its target by part of a sentence, which truncation
    # then cuts: a few percent of the text.
    assert builder.stats.truncated_tokens == lost > 0
    assert lost < 0.1 * len(tokens)

  def test_truncation_cuts_the_longer_segment_at_either_end(self, nsp_built):
    """Cut segments no longer start or end on a sentence boundary."""
    _, pairs = nsp_built
    documents = _documents()
    starts = {sentence[0] for document in documents for sentence in document}
    ends = {sentence[-1] for document in documents for sentence in document}
    front_cuts = back_cuts = 0
    for a, b, _ in pairs:
      for segment, other in ((a, b), (b, a)):
        cut_front, cut_back = segment[0] not in starts, segment[-1] not in ends
        if cut_front or cut_back:
          # Only the longer segment loses tokens (B on a tie).
          assert len(segment) >= len(other) - 1
        front_cuts += cut_front
        back_cuts += cut_back
    assert front_cuts > 100 and back_cuts > 100
    assert 0.8 < front_cuts / back_cuts < 1.25

  def test_long_lines_are_split_into_pairs(self):
    """One-line documents of thousands of tokens still give proper pairs."""
    documents = [[list(range(DOC_STRIDE * (d + 1), DOC_STRIDE * (d + 1) + n))]
                 for d, n in enumerate([3000, 7777, 62, 61, 60])]
    builder = _builder(seq_len=64, task='sop', short_seq_prob=0.0)
    in_order = swapped = 0
    for ids, segments, label in builder(documents):
      a, b = _split(ids, segments)
      if _document_of(a) == _document_of(b):
        # A run of L-3 tokens halved, or the rest of a line halved.
        assert abs(len(a) - len(b)) <= 1 and len(a) + len(b) <= 61
        in_order += label == 0
        swapped += label == 1
        assert (a[0] > b[-1]) == (label == 1)
    assert in_order > 60 and swapped > 60
    # Every run and every rest longer than one token is one in-document pair.
    assert in_order + swapped == (3000 // 61 + 1) + (7777 // 61 + 1) + 1
    assert builder.stats.split_lines == 3  # all lines longer than 61
    # Only the one-sentence chunks (lines of 60 and 61, and remainders) are
    # paired with a random document and then truncated.
    assert builder.stats.truncated_tokens < 100

class TestStats:

  def test_counts_on_a_hand_example(self):
    """SOP chunks with a fixed target: counts and truncation, exactly."""
    def line(start, length):
      return list(range(start, start + length))

    # L = 16 holds 13 tokens; the 20-token line becomes a run of 13 halved
    # (7, 6) and the rest halved (4, 3). Chunks of the target 13:
    # 3+3+7 and 6+4+3 fit, 10+5 loses 2 tokens to truncation.
    documents = [[line(100, 3), line(200, 3), line(300, 20), [],
                  line(400, 10), line(500, 5)],
                 [[], []]]
    builder = _builder(seq_len=16, task='sop', short_seq_prob=0.0)
    pairs = [_split(ids, segments) for ids, segments, _ in builder(documents)]
    stats = builder.stats
    assert (stats.documents, stats.sentences, stats.tokens, stats.split_lines,
            stats.examples, stats.truncated_tokens) == (1, 5, 41, 1, 3, 2)
    assert sorted(sorted(a + b) for a, b in pairs[:2]) == [
        line(100, 3) + line(200, 3) + line(300, 7), line(307, 13)]

  def test_dupe_factor_repeats_the_passes(self):
    """Each pass pairs the corpus anew; the input is counted once."""
    documents = _documents(20, 40)
    once = _builder(task='nsp', short_seq_prob=0.0)
    examples_once = list(once(documents))
    twice = _builder(task='nsp', short_seq_prob=0.0, dupe_factor=2)
    examples_twice = list(twice(documents))
    assert 1.7 < len(examples_twice) / len(examples_once) < 2.3
    assert twice.stats.tokens == once.stats.tokens
    assert twice.stats.truncated_tokens <= once.stats.truncated_tokens
    assert twice.stats.examples == len(examples_twice)
    distinct = {ids.tobytes() for ids, _, _ in examples_twice}
    assert len(distinct) > 1.5 * len(examples_once)

  def test_empty_lines_and_documents_are_skipped(self):
    documents = [[], [[], []], [[10, 11], [], [12]], [[20, 21, 22]]]
    builder = _builder(seq_len=16, task='nsp')
    examples = list(builder(documents))
    assert examples
    assert builder.stats.documents == 2
    assert builder.stats.sentences == 3
    assert builder.stats.examples == len(examples)


class TestSeeding:

  def test_same_seed_same_examples(self):
    documents = _documents(20, 40)
    for task in ('nsp', 'sop'):
      first = list(_builder(seed=3, task=task)(documents))
      second = list(_builder(seed=3, task=task)(documents))
      assert len(first) == len(second)
      for (ids1, seg1, label1), (ids2, seg2, label2) in zip(first, second):
        np.testing.assert_array_equal(ids1, ids2)
        np.testing.assert_array_equal(seg1, seg2)
        assert label1 == label2

  def test_documents_are_shuffled(self):
    """Examples follow a seeded permutation of the documents."""
    documents = _documents(20, 40)
    order = []
    for ids, segments, label in _builder(task='sop', seed=3)(documents):
      a, b = _split(ids, segments)
      if label == 0 and _document_of(a) not in order:
        order.append(_document_of(a))
    assert sorted(order) == list(range(1, 21))
    assert order != sorted(order)

  def test_different_seed_different_examples(self):
    documents = _documents(20, 40)
    first = [ids for ids, _, _ in _builder(seed=3)(documents)]
    second = [ids for ids, _, _ in _builder(seed=4)(documents)]
    assert len(first) != len(second) or not np.array_equal(
        np.stack(first), np.stack(second))

  @pytest.mark.parametrize('kwargs', [
      dict(seq_len=4), dict(task='mlm'), dict(dupe_factor=0)])
  def test_rejects_bad_arguments(self, kwargs):
    with pytest.raises(ValueError):
      _builder(**kwargs)
