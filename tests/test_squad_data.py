"""Tests for data_pipelines.tasks.squad: reading, windows, targets, decoding."""
import gzip
import json
import pathlib
import re
import string

import numpy as np
import pytest

from data_pipelines import spm_training
from data_pipelines import tokenizers
from data_pipelines.tasks import squad
from lm_jax.errors import InputError

DATA = pathlib.Path(__file__).parent / 'data' / 'tasks' / 'squad'

WORDS = 'one two three four five six seven eight nine ten'.split()


def _wordpiece(tmp_path: pathlib.Path, texts: list[str], *,
               words: bool = True) -> tokenizers.WordPieceTokenizer:
  """A vocabulary of the single characters of `texts`, so that nothing is
  unknown, and if `words` of every word in them."""
  basic = tokenizers.BasicTokenizer()
  tokens = sorted({t for text in texts for t in basic.tokenize(text)})
  chars = sorted({c for token in tokens for c in token})
  vocab = list(tokenizers.SPECIAL_TOKENS) + (tokens if words else [])
  vocab += chars + ['##' + c for c in chars]
  path = tmp_path / 'vocab.txt'
  path.write_text(''.join(t + '\n' for t in dict.fromkeys(vocab)),
                  encoding='utf-8')
  return tokenizers.WordPieceTokenizer(str(path))


@pytest.fixture
def tok(tmp_path) -> tokenizers.WordPieceTokenizer:
  return _wordpiece(tmp_path, WORDS + ['q', 'the', 'eiffel', 'tower', 'paris',
                                       'cafe', 'in', 'is', 'where', ',', '!'])


def _example(context: str, answer: str = '', qid: str = 'q1',
             question: str = 'q', start: int | None = None,
             is_impossible: bool = False) -> squad.SquadExample:
  if not answer:
    return squad.SquadExample(qid, question, context, [], [], is_impossible)
  start = context.index(answer) if start is None else start
  return squad.SquadExample(qid, question, context, [answer], [start],
                            is_impossible)


def _write_json(tmp_path: pathlib.Path, data, name='train-v1.1.json') -> str:
  path = tmp_path / name
  path.write_text(data if isinstance(data, str) else json.dumps(data))
  return str(path)


def _squad_json(qas: list, context: str = 'one two three') -> dict:
  return {'version': '1.1', 'data': [
      {'title': 't', 'paragraphs': [{'context': context, 'qas': qas}]}]}


def _one_line_naming(error: pytest.ExceptionInfo, path: str) -> None:
  message = str(error.value)
  assert '\n' not in message
  assert path in message


class TestReadSquad:

  def test_reads_v1_slice(self):
    examples = squad.read_squad(str(DATA / 'train-v1.1.json'))
    assert len(examples) == 164
    first = examples[0]
    assert first.context[first.answer_starts[0]:].startswith(
        first.answers[0])
    assert not any(e.is_impossible for e in examples)
    assert len({e.qid for e in examples}) == len(examples)

  def test_reads_v2_slice(self):
    examples = squad.read_squad(str(DATA / 'train-v2.0.json'))
    impossible = [e for e in examples if e.is_impossible]
    assert impossible and all(
        e.answers == [] and e.answer_starts == [] for e in impossible)
    assert all(e.answers for e in examples if not e.is_impossible)

  def test_reads_gzip(self, tmp_path):
    path = tmp_path / 'dev-v1.1.json.gz'
    path.write_bytes(gzip.compress((DATA / 'dev-v1.1.json').read_bytes()))
    assert squad.find_split(str(tmp_path), 'dev', '1.1') == str(path)
    assert len(squad.read_squad(str(path))) == 25

  def test_find_split(self):
    assert squad.find_split(str(DATA), 'train', '2.0') == str(
        DATA / 'train-v2.0.json')
    with pytest.raises(InputError, match='unknown SQuAD version'):
      squad.find_split(str(DATA), 'train', '3.0')
    with pytest.raises(InputError, match='unknown SQuAD split'):
      squad.find_split(str(DATA), 'test', '1.1')

  def test_missing_answers_is_none_given(self, tmp_path):
    path = _write_json(tmp_path, _squad_json([{'id': 'a', 'question': 'q'}]))
    assert squad.read_squad(path)[0].answers == []

  def test_not_json(self, tmp_path):
    path = _write_json(tmp_path, '{"data": [\n  {"paragraphs": ]}')
    with pytest.raises(InputError, match=r':2:18: not valid JSON') as e:
      squad.read_squad(path)
    _one_line_naming(e, path)

  @pytest.mark.parametrize('data, pattern', [
      ([], 'no top-level "data"'),
      ({'version': '1.1'}, 'no top-level "data"'),
      ({'data': [{'title': 'x'}]}, 'article 0 has no "paragraphs"'),
      ({'data': [{'paragraphs': [{'qas': []}]}]},
       'article 0 paragraph 0 has no "context"'),
      ({'data': [{'paragraphs': [{'context': 'c'}]}]},
       'article 0 paragraph 0 has no "qas"'),
      ({'data': [{'paragraphs': [{'context': 'c', 'qas': [{'id': 'x'}]}]}]},
       "question 'x' .*has no \"question\""),
      ({'data': [{'paragraphs': [{'context': 'c', 'qas': [
          {'question': 'q'}]}]}]}, 'paragraph 0 question 0 has no "id"'),
      ({'data': [{'paragraphs': [{'context': 7, 'qas': []}]}]},
       '"context" is 7, not a string'),
      ({'data': [{'paragraphs': ['c']}]},
       'article 0 paragraph 0 is not a JSON object'),
  ])
  def test_bad_structure(self, tmp_path, data, pattern):
    path = _write_json(tmp_path, data)
    with pytest.raises(InputError, match=pattern) as e:
      squad.read_squad(path)
    _one_line_naming(e, path)

  @pytest.mark.parametrize('qa, pattern', [
      ({'answers': 'one'}, "question 'a' .*\"answers\" is not a list"),
      ({'answers': [{'text': 'one', 'answer_start': '0'}]},
       "question 'a' .*answer 0: \"answer_start\" is '0', not an integer"),
      ({'answers': [{'text': 'one', 'answer_start': True}]},
       '"answer_start" is True, not an integer'),
      ({'answers': [{'answer_start': 0}]}, 'answer 0 has no "text"'),
      ({'is_impossible': 'no'}, '"is_impossible" is .*not true or false'),
  ])
  def test_bad_question(self, tmp_path, qa, pattern):
    path = _write_json(tmp_path, _squad_json([{'id': 'a', 'question': 'q',
                                               **qa}]))
    with pytest.raises(InputError, match=pattern) as e:
      squad.read_squad(path)
    _one_line_naming(e, path)

  def test_duplicate_id(self, tmp_path):
    qa = {'id': 'a', 'question': 'q', 'answers': []}
    path = _write_json(tmp_path, _squad_json([qa, qa]))
    with pytest.raises(InputError, match="question id 'a' appears twice") as e:
      squad.read_squad(path)
    _one_line_naming(e, path)


class TestWindows:
  """Ten one-token words, a one-token question, rows of 8: windows of at
  most 4 context tokens (8 - 1 - 3), starting 2 apart."""

  def _features(self, tok, example, training=True, doc_stride=2):
    return squad.featurize([example], tok, seq_len=8, doc_stride=doc_stride,
                           max_query_length=4, training=training)

  def test_window_starts_and_layout(self, tok):
    context = ' '.join(WORDS)
    features = self._features(tok, _example(context, 'four five'))
    ids = features.arrays['ids']
    word_ids = tok.encode(context)
    q, cls, sep = tok.encode('q')[0], tok.cls_id, tok.sep_id
    # Starts 0, 2, 4, 6: the window from 6 reaches the end.
    for w, start in enumerate([0, 2, 4, 6]):
      np.testing.assert_array_equal(
          ids[w], [cls, q, sep] + word_ids[start:start + 4] + [sep])
    np.testing.assert_array_equal(features.arrays['segment_ids'][0],
                                  [0, 0, 0, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(features.arrays['input_mask'][0], [1] * 8)
    np.testing.assert_array_equal(features.arrays['context_mask'][0],
                                  [0, 0, 0, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(features.arrays['example_index'],
                                  [0, 0, 0, 0])
    # Each position's characters in the context, (-1, -1) elsewhere.
    spans = features.token_to_char[1]
    assert spans[0].tolist() == [-1, -1] and spans[7].tolist() == [-1, -1]
    assert [context[s:e] for s, e in spans[3:7]] == WORDS[2:6]
    assert {k: v.dtype for k, v in features.arrays.items()} == dict.fromkeys(
        features.arrays, np.int32)

  def test_max_context(self, tok):
    features = self._features(tok, _example(' '.join(WORDS)),
                              training=False)
    # Token 3 is in windows 0 (left 3, right 0) and 1 (left 1, right 2):
    # window 1 wins; token 2's best is window 0 (left 2, right 1).
    np.testing.assert_array_equal(features.max_context[:, 3:7], [
        [True, True, True, False],
        [False, True, True, False],
        [False, True, True, False],
        [False, True, True, True],
    ])
    assert not features.max_context[:, [0, 1, 2, 7]].any()

  def test_answer_positions(self, tok):
    features = self._features(tok, _example(' '.join(WORDS), 'four five'))
    # Tokens 3-4 lie whole only in window 1 (tokens 2-5), at rows 4-5; the
    # other windows point at [CLS].
    np.testing.assert_array_equal(features.arrays['start_position'],
                                  [0, 4, 0, 0])
    np.testing.assert_array_equal(features.arrays['end_position'],
                                  [0, 5, 0, 0])

  def test_stride_longer_than_window_skips_nothing(self, tok):
    features = self._features(tok, _example(' '.join(WORDS)), doc_stride=9,
                              training=False)
    firsts = features.token_to_char[:, 3, 0]
    context = ' '.join(WORDS)
    assert [context[s:].split()[0] for s in firsts] == ['one', 'five',
                                                        'nine']
    np.testing.assert_array_equal(features.arrays['input_mask'][2],
                                  [1, 1, 1, 1, 1, 1, 0, 0])

  def test_short_context_one_window_padded(self, tok):
    features = self._features(tok, _example('two three', 'three'))
    assert len(features) == 1
    np.testing.assert_array_equal(features.arrays['ids'][0, 5:],
                                  [tok.sep_id, tok.pad_id, tok.pad_id])
    assert features.arrays['start_position'].tolist() == [4]

  def test_question_truncated(self, tok):
    example = _example('one two', question='one two three four five six')
    features = squad.featurize([example], tok, seq_len=12,
                               max_query_length=3, training=False)
    np.testing.assert_array_equal(features.arrays['ids'][0, :5], [
        tok.cls_id] + tok.encode('one two three') + [tok.sep_id])

  def test_sizes_checked(self, tok):
    with pytest.raises(InputError, match='no room'):
      squad.featurize([], tok, seq_len=8, max_query_length=5, training=True)
    with pytest.raises(InputError, match='doc_stride'):
      squad.featurize([], tok, seq_len=8, max_query_length=1, doc_stride=0,
                      training=True)


class TestTargets:

  def test_answer_not_in_context_is_skipped(self, tok):
    examples = [_example('one two three', 'two', qid='good'),
                _example('one two three', 'four', qid='bad', start=4),
                _example('one two three', qid='none')]
    features = squad.featurize(examples, tok, training=True)
    assert features.skipped == {
        'bad': squad.NOT_IN_CONTEXT, 'none': squad.NO_ANSWER}
    assert features.arrays['example_index'].tolist() == [0]
    summary = features.skipped_summary()
    assert '1 training question skipped: answer not found in its context' in (
        summary)
    # Evaluation keeps every question; its targets are 0.
    features = squad.featurize(examples, tok, training=False)
    assert features.skipped == {}
    assert features.arrays['example_index'].tolist() == [0, 1, 2]
    assert not features.arrays['start_position'].any()

  def test_all_skipped_gives_no_rows(self, tok):
    features = squad.featurize([_example('one', 'two', start=0)], tok,
                               seq_len=16, max_query_length=4, training=True)
    assert features.arrays['ids'].shape == (0, 16)
    assert features.token_to_char.shape == (0, 16, 2)

  def test_whitespace_tolerant_match(self, tok):
    context = 'one  two\nthree four'
    example = _example(context, 'two three', start=5)
    features = squad.featurize([example], tok, seq_len=16, max_query_length=4,
                               training=True)
    assert not features.skipped
    start = features.arrays['start_position'][0]
    end = features.arrays['end_position'][0]
    spans = features.token_to_char[0]
    assert context[spans[start][0]:spans[end][1]] == 'two\nthree'

  def test_answer_inside_a_token_takes_the_token(self, tok):
    context = 'the eiffel tower'
    example = _example(context, 'iffel')
    features = squad.featurize([example], tok, seq_len=16, max_query_length=4,
                               training=True)
    start = features.arrays['start_position'][0]
    end = features.arrays['end_position'][0]
    assert start == end and tok.decode(
        [features.arrays['ids'][0, start]]) == 'eiffel'


def test_v2_unanswerable_points_at_cls(tmp_path):
  examples = squad.read_squad(str(DATA / 'train-v2.0.json'))
  tok = _wordpiece(tmp_path, [e.context for e in examples] +
                   [e.question for e in examples])
  features = squad.featurize(examples, tok, seq_len=64, doc_stride=16,
                             max_query_length=24, training=True)
  assert not features.skipped
  impossible = np.array([examples[i].is_impossible
                         for i in features.arrays['example_index']])
  assert impossible.any()
  assert not features.arrays['start_position'][impossible].any()
  assert not features.arrays['end_position'][impossible].any()
  # Answerable questions have their answer in some window.
  answered = set(
      features.arrays['example_index'][features.arrays['start_position'] > 0])
  assert answered == {i for i, e in enumerate(examples)
                           if not e.is_impossible}


class TestDecode:

  CONTEXT = 'Where is the Eiffel Tower? In PARIS, the Tower is!'

  def _features(self, tok, seq_len=32, **kwargs):
    examples = [_example(self.CONTEXT, question='where')]
    return examples, squad.featurize(examples, tok, seq_len=seq_len,
                                     max_query_length=4, training=False,
                                     **kwargs)

  def _logits(self, features, starts: dict, ends: dict):
    """Logits 0 everywhere but at the given {(row, position): value}."""
    shape = features.arrays['ids'].shape
    start_NxL, end_NxL = np.zeros(shape), np.zeros(shape)
    for (row, pos), value in starts.items():
      start_NxL[row, pos] = value
    for (row, pos), value in ends.items():
      end_NxL[row, pos] = value
    return start_NxL, end_NxL

  def _position(self, features, row, text_start):
    """The row position of the token starting at that character."""
    return int(np.flatnonzero(
        features.token_to_char[row, :, 0] == text_start)[0])

  def test_returns_original_characters(self, tok):
    examples, features = self._features(tok)
    start = self._position(features, 0, self.CONTEXT.index('Eiffel'))
    end = self._position(features, 0, self.CONTEXT.index('?'))
    start_NxL, end_NxL = self._logits(features, {(0, start): 5},
                                      {(0, end): 5})
    predictions, null_minus_best, nbest = squad.decode(
        examples, features, start_NxL, end_NxL, version_2=False)
    assert predictions == {'q1': 'Eiffel Tower?'}
    assert null_minus_best['q1'] == -10
    best = nbest['q1'][0]
    assert (best['text'], best['start_char'], best['end_char'],
            best['score']) == ('Eiffel Tower?', 13, 26, 10)
    assert len(nbest['q1']) <= 20
    assert sum(e['probability'] for e in nbest['q1']) == pytest.approx(1)
    assert len({e['text'] for e in nbest['q1']}) == len(nbest['q1'])

  def test_end_before_start_and_length_respected(self, tok):
    examples, features = self._features(tok)
    paris = self._position(features, 0, self.CONTEXT.index('PARIS'))
    where = self._position(features, 0, 0)
    last = self._position(features, 0, self.CONTEXT.index('!'))
    # The best end lies before the best start: not a span.
    start_NxL, end_NxL = self._logits(
        features, {(0, paris): 5}, {(0, where): 9, (0, paris): 4})
    predictions, _, _ = squad.decode(examples, features, start_NxL, end_NxL,
                                     version_2=False)
    assert predictions['q1'] == 'PARIS'
    # 'PARIS, the Tower is!' is 6 tokens; at most 5 leaves 'PARIS' again.
    start_NxL, end_NxL = self._logits(
        features, {(0, paris): 5}, {(0, last): 9, (0, paris): 4})
    for max_answer_length, text in [(6, 'PARIS, the Tower is!'), (5, 'PARIS')]:
      predictions, _, _ = squad.decode(
          examples, features, start_NxL, end_NxL,
          max_answer_length=max_answer_length, version_2=False)
      assert predictions['q1'] == text

  def test_start_must_have_max_context_and_null_is_minimum(self, tok):
    # TestWindows' layout: windows of tokens 0-3, 2-5, 4-7 and 6-9 at row
    # positions 3-6. 'four' (token 3) has max context in row 1 only.
    examples = [_example(' '.join(WORDS))]
    features = squad.featurize(examples, tok, seq_len=8, doc_stride=2,
                               max_query_length=4, training=False)
    start_NxL = np.full((4, 8), -100.0)
    end_NxL = np.full((4, 8), -100.0)
    start_NxL[0, 6] = end_NxL[0, 6] = 9  # 'four' in row 0: not max context.
    start_NxL[1, 5] = end_NxL[1, 5] = 2  # 'five' in row 1.
    start_NxL[:, 0] = [3, 1, 0, 2]
    end_NxL[:, 0] = [3, -2, 5, 2]
    predictions, null_minus_best, nbest = squad.decode(
        examples, features, start_NxL, end_NxL, version_2=True)
    assert predictions['q1'] == 'five'
    # s_null is the smallest of 3 + 3, 1 - 2, 0 + 5 and 2 + 2.
    assert null_minus_best['q1'] == -1 - 4
    assert [(e['text'], e['score']) for e in nbest['q1'][:2]] == [
        ('five', 4), ('', -1)]
    assert nbest['q1'][1]['start_char'] == nbest['q1'][1]['end_char'] == -1
    # 'four' where it has max context wins.
    start_NxL[1, 4] = end_NxL[1, 4] = 3
    predictions, _, _ = squad.decode(examples, features, start_NxL, end_NxL,
                                     version_2=True)
    assert predictions['q1'] == 'four'

  def test_keeps_accents(self, tmp_path):
    context = 'Le Caf\u00E9 Noir, \u00E0 PARIS.'
    tok = _wordpiece(tmp_path, [context, 'where'])
    examples = [_example(context, question='where')]
    features = squad.featurize(examples, tok, seq_len=16, max_query_length=4,
                               training=False)
    start = self._position(features, 0, context.index('Caf'))
    end = self._position(features, 0, context.index(','))
    start_NxL, end_NxL = self._logits(features, {(0, start): 5},
                                      {(0, end): 5})
    predictions, _, _ = squad.decode(examples, features, start_NxL, end_NxL,
                                     version_2=False)
    assert predictions['q1'] == 'Caf\u00E9 Noir,'

  def test_no_valid_span(self, tok):
    examples, features = self._features(tok)
    # With n_best 1 the only start and end tried are [CLS], outside the
    # context.
    start_NxL, end_NxL = self._logits(features, {(0, 0): 1}, {(0, 0): 1})
    predictions, null_minus_best, nbest = squad.decode(
        examples, features, start_NxL, end_NxL, n_best=1, version_2=True)
    assert predictions['q1'] == '' and null_minus_best['q1'] == float('inf')
    assert [e['text'] for e in nbest['q1']] == ['']


def normalize_answer(s: str) -> str:
  """The official SQuAD evaluation's normalisation."""
  s = ''.join(ch for ch in s.lower() if ch not in set(string.punctuation))
  s = re.sub(r'\b(a|an|the)\b', ' ', s)
  return ' '.join(s.split())


def _oracle_misses(examples, tok, **sizes) -> list[tuple[str, str]]:
  """Featurises for training, puts one-hot logits on the gold positions,
  decodes, and returns the (first answer, prediction) pairs that differ
  after the official normalisation."""
  features = squad.featurize(examples, tok, training=True, **sizes)
  assert not features.skipped
  n, length = features.arrays['ids'].shape
  assert n > len(examples)  # Some contexts take several windows.
  start_NxL = np.zeros((n, length), np.float32)
  end_NxL = np.zeros((n, length), np.float32)
  start_NxL[np.arange(n), features.arrays['start_position']] = 1
  end_NxL[np.arange(n), features.arrays['end_position']] = 1
  predictions, _, _ = squad.decode(examples, features, start_NxL, end_NxL,
                                   max_answer_length=1000, version_2=False)
  return [(e.answers[0], predictions[e.qid]) for e in examples
          if normalize_answer(predictions[e.qid]) !=
          normalize_answer(e.answers[0])]


@pytest.mark.parametrize('words', [False, True])
def test_round_trip_wordpiece(tmp_path, words):
  examples = squad.read_squad(str(DATA / 'train-v1.1.json'))
  tok = _wordpiece(tmp_path, [e.context for e in examples] +
                   [e.question for e in examples], words=words)
  # Rows of characters must still hold the longest answer (110 characters).
  misses = _oracle_misses(examples, tok, seq_len=128 if words else 256,
                          doc_stride=32, max_query_length=32)
  if not words:
    # One token per character: every answer comes back exactly.
    assert not misses
  else:
    # A whole-word token can only be wider than an answer inside it ('8' of
    # '18' is a gold answer in this slice).
    assert len(misses) <= 0.05 * len(examples)
    assert all(answer in predicted for answer, predicted in misses)


def test_round_trip_sentencepiece(tmp_path):
  examples = squad.read_squad(str(DATA / 'train-v1.1.json'))
  path = spm_training.train_sentencepiece_on_lines(
      sorted({e.context for e in examples}), str(tmp_path / 'squad.model'),
      400, source='SQuAD contexts')
  misses = _oracle_misses(
      examples, tokenizers.SentencePieceTokenizer(path), seq_len=128,
      doc_stride=32, max_query_length=32)
  assert len(misses) <= 0.05 * len(examples)
  assert all(answer in predicted for answer, predicted in misses)
