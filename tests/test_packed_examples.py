"""Tests for data_pipelines.packed_examples: GPT's packed causal-LM rows."""

import functools

import ml_collections
import numpy as np
import pytest

from conftest import DOC_STRIDE, FakeTokenizer, numbered_documents
from data_pipelines import packed_examples
from data_pipelines import pipeline
from data_pipelines.packed_examples import PackedExampleBuilder

PAD, EOT = 0, 1
FIRST_WORD = 10


def _builder(seq_len: int = 32, seed: int = 0) -> PackedExampleBuilder:
  return PackedExampleBuilder(seq_len, eot_id=EOT, seed=seed)


def _documents(seed: int = 0, num_documents: int = 30, max_len: int = 40):
  return numbered_documents(seed, num_documents, lambda rng: rng.integers(
      1, max_len, size=int(rng.integers(1, 10))))


def _flatten(sentences) -> list[int]:
  return [token for sentence in sentences for token in sentence]


def _stream(documents) -> list[int]:
  """Every non-empty document's tokens, each followed by one EOT."""
  stream = []
  for document in documents:
    tokens = _flatten(document)
    if tokens:
      stream += tokens + [EOT]
  return stream


def _rows(builder, documents) -> np.ndarray:
  """The builder's rows as one [N, L] array, after checking their layout."""
  rows = []
  for ids, segments, label in builder(documents):
    assert ids.shape == segments.shape == (builder.seq_len,)
    assert ids.dtype == segments.dtype == np.int32
    assert not segments.any()
    assert label == 0
    rows.append(ids)
  return np.stack(rows)


class TestLayout:

  def test_full_rows_no_padding(self):
    """Every row holds exactly L tokens of text or EOT, never padding."""
    rows_NL = _rows(_builder(seq_len=32), _documents())
    assert len(rows_NL) > 10
    assert PAD not in rows_NL
    assert ((rows_NL == EOT) | (rows_NL >= FIRST_WORD)).all()


class TestContent:

  @pytest.mark.parametrize('seq_len', [2, 7, 32, 1000])
  def test_no_token_lost(self, seq_len):
    """The rows are the stream, cut into rows, less a remainder < L."""
    documents = _documents()
    stream = _stream(documents)
    rows_NL = _rows(_builder(seq_len=seq_len), documents)
    assert rows_NL.ravel().tolist() == stream[:len(rows_NL) * seq_len]
    assert 0 <= len(stream) - rows_NL.size < seq_len

  def test_one_eot_after_each_document(self):
    """Split at EOT, the rows give back the documents, in order."""
    documents = _documents()
    tokens = _rows(_builder(seq_len=32), documents).ravel().tolist()
    pieces = [[]]
    for token in tokens:
      if token == EOT:
        pieces.append([])
      else:
        pieces[-1].append(token)
    *complete, tail = pieces
    assert complete == [_flatten(d) for d in documents[:len(complete)]]
    # The dropped tail cuts into the next document, if any.
    assert tail == _flatten(documents[len(complete)])[:len(tail)]
    assert len(complete) >= len(documents) - 1

  def test_rows_cross_document_boundaries(self):
    """A row ends a document and goes on with the next one."""
    rows_NL = _rows(_builder(seq_len=32), _documents())
    crossing = 0
    for ids_L in rows_NL:
      documents = {t // DOC_STRIDE for t in ids_L.tolist() if t != EOT}
      if len(documents) > 1:
        crossing += 1
        # Text of one document, its EOT, then text of the next one.
        for eot in np.flatnonzero(ids_L[1:-1] == EOT) + 1:
          assert ids_L[eot - 1] // DOC_STRIDE < ids_L[eot + 1] // DOC_STRIDE
    # About one row per document, as documents are ~3 rows long.
    assert crossing > len(rows_NL) // 5

  def test_long_document_spans_many_rows(self):
    """A document longer than a row runs on over consecutive rows."""
    documents = [[list(range(FIRST_WORD, FIRST_WORD + 1000))]]
    rows_NL = _rows(_builder(seq_len=32), documents)
    assert rows_NL.shape == (1001 // 32, 32)
    assert rows_NL.ravel().tolist() == list(range(FIRST_WORD,
                                                  FIRST_WORD + rows_NL.size))

  def test_empty_documents_and_sentences_are_skipped(self):
    """Empty lines add nothing; an empty document not even an EOT."""
    documents = _documents(num_documents=10)
    padded = [[]]
    for document in documents:
      padded += [[[]] + document[:1] + [[]] + document[1:] + [[]], [], [[]]]
    plain = _rows(_builder(seq_len=16), documents)
    np.testing.assert_array_equal(_rows(_builder(seq_len=16), padded), plain)

  def test_no_documents(self):
    builder = _builder()
    assert not list(builder([]))
    assert not list(builder([[], [[]]]))
    assert builder.stats.examples == builder.stats.documents == 0


class TestStats:

  def test_counts_on_a_hand_example(self):
    """Rows and counts of a small corpus, exactly."""
    def line(start, length):
      return list(range(start, start + length))

    documents = [[line(100, 3), [], line(200, 2)], [], [[]], [line(300, 1)],
                 [line(400, 6)], [line(500, 2)]]
    builder = _builder(seq_len=4)
    rows = _rows(builder, documents).tolist()
    assert rows == [[100, 101, 102, 200], [201, EOT, 300, EOT],
                    [400, 401, 402, 403], [404, 405, EOT, 500]]
    # Dropped: [501, EOT], of which one input token.
    stats = builder.stats
    assert (stats.documents, stats.sentences, stats.tokens, stats.split_lines,
            stats.examples, stats.truncated_tokens) == (4, 5, 14, 0, 4, 1)

  def test_nothing_truncated_when_the_stream_fits_exactly(self):
    builder = _builder(seq_len=4)
    rows = _rows(builder, [[[10, 11, 12]], [[20], [21]], [[30]]]).tolist()
    assert rows == [[10, 11, 12, EOT], [20, 21, EOT, 30]]
    assert builder.stats.truncated_tokens == 0  # the dropped tail is an EOT

  def test_truncated_counts_text_only(self):
    """EOT ids in the text count as text; the separator EOTs do not."""
    builder = _builder(seq_len=8)
    assert not list(builder([[[EOT, 10]], [[EOT]]]))
    # Stream [EOT, 10, EOT | EOT, EOT]: three input tokens dropped.
    assert (builder.stats.tokens, builder.stats.truncated_tokens) == (3, 3)

  def test_stats_add_up(self):
    """Text in the rows plus the text dropped is all the text."""
    documents = _documents()
    builder = _builder(seq_len=50)
    rows_NL = _rows(builder, documents)
    stats = builder.stats
    assert stats.examples == len(rows_NL)
    assert stats.documents == len(documents)
    assert stats.sentences == sum(map(len, documents))
    assert stats.tokens == len(_flatten(_flatten(documents)))
    assert stats.truncated_tokens > 0
    assert (int((rows_NL != EOT).sum()) + stats.truncated_tokens
            == stats.tokens)


class TestSeeding:

  def test_seed_does_not_matter(self):
    """Packing is deterministic; the seed is only part of the interface."""
    documents = _documents()
    np.testing.assert_array_equal(_rows(_builder(seed=3), documents),
                                  _rows(_builder(seed=4), documents))

  def test_rejects_tiny_seq_len(self):
    with pytest.raises(ValueError):
      _builder(seq_len=1)


class TestPipeline:

  def test_builds_a_store_of_the_stream(self, tmp_path):
    """Through build_or_load_examples, the store holds the packed stream."""
    seq_len = 16
    rng = np.random.default_rng(0)
    documents = [[rng.integers(FIRST_WORD, 1000, rng.integers(3, 13)).tolist()
                  for _ in range(5)] for _ in range(8)]
    path = tmp_path / 'corpus.txt'
    path.write_text('\n\n'.join('\n'.join(' '.join(map(str, line))
                                          for line in document)
                                for document in documents) + '\n')
    data_cfg = ml_collections.ConfigDict(dict(
        train_files=str(path), tfds_name='', tfds_split='train',
        tfds_text_key='text', tfds_data_dir='', seq_len=seq_len, seed=0,
        cache_dir=str(tmp_path / 'cache'), decode_errors='strict'))
    make_builder = functools.partial(PackedExampleBuilder, seq_len,
                                     eot_id=EOT)
    store = pipeline.build_or_load_examples(
        data_cfg, FakeTokenizer(), 'fake-tokenizer', make_builder,
        f'packed-v{packed_examples.VERSION}', 0, 1, log=lambda _: None)
    ids, segments, labels = store.gather(np.arange(len(store)))
    stream = _stream(documents)
    assert ids.shape == (len(stream) // seq_len, seq_len)
    assert ids.ravel().tolist() == stream[:ids.size]
    assert not segments.any() and not labels.any()


class TestLineBreaks:

  def test_each_line_is_followed_by_the_line_break(self):
    """Lines keep their break (a byte-level BPE's '\\n'), documents their
    end-of-text; line breaks are not counted as input tokens."""
    builder = PackedExampleBuilder(4, EOT, seed=0, line_break_ids=[9])
    documents = [[[100, 101], [102]], [[103, 104, 105]]]
    rows = [ids.tolist() for ids, _, _ in builder(documents)]
    assert sum(rows, []) == [100, 101, 9, 102, 9, EOT, 103, 104]
    assert builder.stats.tokens == 6
    # 105, its line break and the end-of-text are the remainder: one input token.
    assert builder.stats.truncated_tokens == 1
