"""Tests for data_pipelines.mlm_masking: the BERT family's maskers (§1.2-1.5,
§1.11), on a fake 1000-id vocabulary."""

import math

import numpy as np
import pytest

from data_pipelines import mlm_masking
from data_pipelines.tf_cpu import tf as tf_module

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
SPECIALS = (PAD, CLS, SEP, MASK)  # never candidates
VOCAB = 1000
FIRST_WORD = 5  # ordinary ids start here
FIRST_PIECE = 600  # ids from here on continue a word ('##' pieces)
WORD_START_V = np.arange(VOCAB) < FIRST_PIECE
IDS = dict(vocab_size=VOCAB, pad_id=PAD, cls_id=CLS, sep_id=SEP, mask_id=MASK)

# Every kind and unit the maskers offer.
CONFIGS = {
    'token': dict(kind='token'),
    'whole_word': dict(kind='token', word_start_V=WORD_START_V),
    'ngram_tokens': dict(kind='token', ngram_max=3),
    'ngram_words': dict(kind='token', ngram_max=3, word_start_V=WORD_START_V),
    'span': dict(kind='span', word_start_V=WORD_START_V),
    'span_tokens': dict(kind='span'),
    'smoothed': dict(kind='smoothed',
                     token_counts_V=np.arange(VOCAB, dtype=np.float64)),
}


def _masker(config: str = 'token', *, seq_len: int = 64, seed: int = 0,
            max_predictions: int = 10, **overrides):
  kwargs = dict(CONFIGS[config], seq_len=seq_len, seed=seed,
                max_predictions=max_predictions, **IDS)
  kwargs.update(overrides)
  return mlm_masking.make_masker(**kwargs)


def _row(seq_len: int, *segments) -> np.ndarray:
  """[CLS] A [SEP] (B [SEP]) then padding, as int32 [seq_len]."""
  ids = [CLS]
  for segment in segments:
    ids += [*segment, SEP]
  return np.array(ids + [PAD] * (seq_len - len(ids)), np.int32)


def _rows(count: int, seq_len: int, *, seed: int = 0, low: int = FIRST_WORD,
          high: int = VOCAB, full: bool = False) -> np.ndarray:
  """Random rows of one or two segments; unless `full`, some padding and a
  stray [MASK] or [CLS] inside."""
  rng = np.random.default_rng(seed)
  rows = []
  for _ in range(count):
    real = seq_len - 3 if full else int(rng.integers(seq_len // 3, seq_len - 2))
    words = rng.integers(low, high, real)
    if not full:
      words[rng.integers(0, real, 2)] = rng.choice([MASK, CLS, UNK], 2)
    if full or rng.random() < 0.5:
      cut = int(rng.integers(1, real))
      rows.append(_row(seq_len, words[:cut], words[cut:]))
    else:
      rows.append(_row(seq_len, words))
  return np.stack(rows)


def _mask_rows(masker, rows, indices=None) -> dict:
  """The masker on each row; numpy [n, ...]."""
  if indices is None:
    indices = range(len(rows))
  outs = [masker(dict(input_ids=row, segment_ids=np.zeros_like(row),
                      sentence_label=np.int32(0)), index)
          for row, index in zip(rows, indices)]
  return {key: np.stack([out[key] for out in outs]) for key in outs[0]}


def _chosen(out, b):
  """Positions of example b's weighted slots."""
  return out['masked_lm_positions'][b][out['masked_lm_weights'][b] > 0]


def _candidates(row) -> np.ndarray:
  return ~np.isin(row, SPECIALS)


def _words(row, word_start_V=WORD_START_V):
  """Whole words as [start, end), computed here independently: a word starts
  at a word-start piece or after a non-candidate."""
  candidate = _candidates(row)
  words = []
  for i in range(len(row)):
    if not candidate[i]:
      continue
    if word_start_V[row[i]] or not candidate[i - 1]:
      words.append([i, i + 1])
    else:
      words[-1][1] = i + 1
  return words


def _runs(positions, seq_len):
  """Maximal runs [s, e] (inclusive) of consecutive positions."""
  masked = np.zeros(seq_len + 2, bool)
  masked[np.asarray(positions) + 1] = True
  edges = np.diff(masked.astype(np.int8))
  return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def _classify(out, rows):
  """Per chosen token: 0 [MASK], 1 kept, 2 random; and the new ids."""
  kinds, new_ids = [], []
  for b, row in enumerate(rows):
    chosen = _chosen(out, b)
    new = out['masked_input_ids'][b][chosen]
    kinds.append(np.where(new == MASK, 0, np.where(new == row[chosen], 1, 2)))
    new_ids.append(new)
  return kinds, new_ids


class TestSlotsAndSettings:

  @pytest.mark.parametrize('kind, seq_len, expected', [
      ('token', 128, 20), ('span', 128, 20), ('span', 512, 77),
      ('smoothed', 512, 77), ('span', 20, 3)])
  def test_num_slots(self, kind, seq_len, expected):
    """'token' uses max_predictions; the others ceil(p L), with 0.15 * 20
    counted as exactly 3 (its float product would ceil to 4)."""
    assert mlm_masking.num_slots(kind, 0.15, seq_len, 20) == expected

  @pytest.mark.parametrize('config', sorted(CONFIGS))
  def test_output_shapes(self, config):
    """[L] and [N] outputs, N = num_slots; SBO keys only for spans."""
    kind = CONFIGS[config]['kind']
    out = _mask_rows(_masker(config), _rows(2, 64))
    n = mlm_masking.num_slots(kind, 0.15, 64, 10)
    for key in mlm_masking.MLM_KEYS:
      assert out[key].shape == (2, 64 if key in ('input_mask',
                                                 'masked_input_ids') else n)
      assert out[key].dtype == (np.float32 if key.endswith('weights')
                                else np.int32)
    assert (set(mlm_masking.SBO_KEYS) <= set(out)) == (kind == 'span')
    assert {'segment_ids', 'sentence_label'} <= set(out)

  @pytest.mark.parametrize('overrides', [
      dict(kind='nope'), dict(kind='token', max_predictions=None),
      dict(kind='span', span_lower=4, span_upper=3),
      dict(kind='span', span_lower=63, span_upper=70),
      dict(kind='span', span_geometric_p=0.0), dict(mask_prob=0.0),
      dict(mask_token_prob=0.8, random_token_prob=0.3),
      dict(kind='token', ngram_max=0), dict(word_start_V=np.ones(5, bool)),
      dict(kind='span', token_counts_V=np.zeros(VOCAB)), dict(mask_id=VOCAB),
      dict(seed=-1)])
  def test_impossible_settings_rejected(self, overrides):
    with pytest.raises(ValueError):
      _masker('token', **overrides)

  def test_wrong_length_rejected(self):
    with pytest.raises(ValueError):
      _masker()(dict(input_ids=np.zeros(32, np.int32)), 0)


class TestInvariants:

  @pytest.fixture(scope='class', params=sorted(CONFIGS))
  def masked(self, request):
    rows = _rows(150, 64, seed=1)
    return request.param, rows, _mask_rows(_masker(request.param), rows)

  def test_specials_and_padding_never_chosen(self, masked):
    _, rows, out = masked
    for b, row in enumerate(rows):
      assert not np.isin(row[_chosen(out, b)], SPECIALS).any()

  def test_positions_ascending_unique_and_used_first(self, masked):
    _, _, out = masked
    weights = out['masked_lm_weights']
    assert set(np.unique(weights)) <= {0.0, 1.0}
    assert (np.diff(weights, axis=1) <= 0).all()
    for b in range(len(weights)):
      assert (np.diff(_chosen(out, b)) > 0).all()
    unused = weights == 0
    assert (out['masked_lm_positions'][unused] == 0).all()
    assert (out['masked_lm_ids'][unused] == 0).all()

  def test_labels_and_changes(self, masked):
    """Labels are the original ids; only chosen positions change."""
    _, rows, out = masked
    np.testing.assert_array_equal(out['input_ids'], rows)
    np.testing.assert_array_equal(out['input_mask'], (rows != PAD).astype(int))
    for b, row in enumerate(rows):
      chosen = _chosen(out, b)
      np.testing.assert_array_equal(_chosen(out, b),
                                    out['masked_lm_positions'][b][:len(chosen)])
      np.testing.assert_array_equal(
          out['masked_lm_ids'][b][:len(chosen)], row[chosen])
      changed = np.flatnonzero(out['masked_input_ids'][b] != row)
      assert set(changed) <= set(chosen)

  def test_deterministic_by_seed_and_index(self, masked):
    """(seed, index) fixes the masks; another index or seed changes them."""
    config, rows, out = masked
    again = _mask_rows(_masker(config), rows[::-1], range(len(rows))[::-1])
    for key, value in out.items():
      np.testing.assert_array_equal(value, again[key][::-1], err_msg=key)
    row = np.repeat(rows[:1], 3, axis=0)
    by_index = _mask_rows(_masker(config), row, [0, 1, 2])
    other_seed = _mask_rows(_masker(config, seed=1), row, [0, 1, 2])
    positions = by_index['masked_lm_positions']
    assert len({tuple(p) for p in positions}) == 3
    assert not np.array_equal(positions, other_seed['masked_lm_positions'])


class TestBudget:

  def test_token_budget(self):
    """min(max_predictions, max(1, round(n p))), n with [CLS]/[SEP]; capped
    by the candidates."""
    rows = np.stack([_row(64, range(FIRST_WORD, FIRST_WORD + n))
                     for n in range(0, 62)] + list(_rows(50, 64, seed=2)))
    out = _mask_rows(_masker('token', max_predictions=8), rows)
    for b, row in enumerate(rows):
      n = np.count_nonzero(row != PAD)
      expected = min(8, max(1, round(n * 0.15)), _candidates(row).sum())
      assert out['masked_lm_weights'][b].sum() == expected

  def test_whole_word_budget_is_greedy(self):
    """Never over the budget, and every word left out is longer than what
    remains of it: the loop takes each shuffled word that fits."""
    rows = _rows(200, 64, seed=3)
    out = _mask_rows(_masker('whole_word', max_predictions=8), rows)
    for b, row in enumerate(rows):
      budget = min(8, max(1, round(np.count_nonzero(row != PAD) * 0.15)))
      chosen = set(_chosen(out, b))
      left = budget - len(chosen)
      assert left >= 0
      for start, end in _words(row):
        if start not in chosen:
          assert end - start > left

  @pytest.mark.parametrize('config', ['ngram_tokens', 'ngram_words'])
  def test_ngram_budget(self, config):
    """Never over the budget, and reached (almost) always."""
    rows = _rows(200, 64, seed=4)
    out = _mask_rows(_masker(config, max_predictions=8), rows)
    gaps = []
    for b, row in enumerate(rows):
      budget = min(8, max(1, round(np.count_nonzero(row != PAD) * 0.15)))
      gaps.append(budget - len(_chosen(out, b)))
    assert min(gaps) >= 0
    assert np.mean(gaps) < 0.3

  @pytest.mark.parametrize('config', ['span', 'span_tokens'])
  def test_span_budget(self, config):
    """Exactly ceil(p * block tokens), the block without [CLS]/[SEP]."""
    rows = _rows(200, 64, seed=5)
    out = _mask_rows(_masker(config), rows)
    for b, row in enumerate(rows):
      expected = math.ceil(round(0.15 * _candidates(row).sum(), 9))
      assert out['masked_lm_weights'][b].sum() == expected

  def test_smoothed_budget(self):
    """Exactly ceil(p * non-pad tokens), capped by the candidates."""
    rows = np.concatenate([_rows(100, 64, seed=6),
                           [_row(64, []), _row(64, [MASK]), _row(64, [7])]])
    out = _mask_rows(_masker('smoothed'), rows)
    for b, row in enumerate(rows):
      expected = min(math.ceil(round(0.15 * np.count_nonzero(row != PAD), 9)),
                     _candidates(row).sum())
      assert out['masked_lm_weights'][b].sum() == expected


class TestReplacement:

  @pytest.mark.parametrize('config', ['token', 'whole_word', 'smoothed'])
  def test_80_10_10_per_token(self, config):
    """Over ~20k predictions: 80% [MASK], 10% kept, 10% random, and random
    ids from the whole vocabulary."""
    rows = _rows(1100, 128, seed=7, full=True)
    out = _mask_rows(_masker(config, seq_len=128, max_predictions=19), rows)
    kinds, new_ids = _classify(out, rows)
    kinds_all = np.concatenate(kinds)
    assert len(kinds_all) > 20000
    fractions = np.bincount(kinds_all, minlength=3) / len(kinds_all)
    np.testing.assert_allclose(fractions, [0.8, 0.1, 0.1], atol=0.015)
    random = np.concatenate(new_ids)[kinds_all == 2]
    assert abs(random.mean() - (VOCAB - 1) / 2) < 15
    if config != 'smoothed':
      assert (random < FIRST_WORD).any()  # BERT draws specials too

  def test_whole_word_decides_per_piece(self):
    """Pieces of one word get independent decisions (not one per word)."""
    rows = _rows(600, 128, seed=8, full=True)
    out = _mask_rows(_masker('whole_word', seq_len=128, max_predictions=19),
                     rows)
    kinds, _ = _classify(out, rows)
    mixed = total = 0
    for b, row in enumerate(rows):
      decision = dict(zip(_chosen(out, b), kinds[b]))
      for start, end in _words(row):
        if end - start > 1 and start in decision:
          total += 1
          mixed += len({decision[i] for i in range(start, end)}) > 1
    # 1 - (0.8^2 + 0.1^2 + 0.1^2) = 0.34 for two pieces, more for longer.
    assert total > 500
    assert 0.3 < mixed / total < 0.45

  def test_span_level_decision_and_unigram_random(self):
    """One decision per merged span, 80/10/10 over spans; random tokens by
    the unigram counts."""
    # Inputs use ids < 500; counts ~ (id - 499) on 500..999 only, so random
    # tokens are recognisable and their mean is 499 + 1001/3.
    counts_V = np.maximum(np.arange(VOCAB) - 499, 0).astype(np.float64)
    rows = _rows(1200, 128, seed=9, high=500, full=True)
    out = _mask_rows(_masker('span', seq_len=128, token_counts_V=counts_V),
                     rows)
    span_kinds, random_ids = [], []
    for b, row in enumerate(rows):
      chosen = _chosen(out, b)
      new = out['masked_input_ids'][b]
      for s, e in _runs(chosen, 128):
        span = new[s:e + 1]
        if (span == MASK).all():
          span_kinds.append(0)
        elif (span == row[s:e + 1]).all():
          span_kinds.append(1)
        else:
          assert (span >= 500).all(), span  # all random, none kept or masked
          span_kinds.append(2)
          random_ids.extend(span)
    assert len(span_kinds) > 4000
    fractions = np.bincount(span_kinds, minlength=3) / len(span_kinds)
    np.testing.assert_allclose(fractions, [0.8, 0.1, 0.1], atol=0.025)
    assert abs(np.mean(random_ids) - (499 + 1001 / 3)) < 12


class TestUnits:

  @pytest.mark.parametrize('config', ['whole_word', 'ngram_words'])
  def test_whole_words_never_split(self, config):
    rows = _rows(200, 64, seed=10)
    out = _mask_rows(_masker(config, max_predictions=8), rows)
    for b, row in enumerate(rows):
      chosen = set(_chosen(out, b))
      for start, end in _words(row):
        assert len(chosen & set(range(start, end))) in (0, end - start)

  def test_span_splits_at_most_the_last_word(self):
    """SpanBERT's spans are whole words, except that the last one may be cut
    at the budget: at most one word per example is partly masked."""
    rows = _rows(300, 64, seed=11)
    out = _mask_rows(_masker('span'), rows)
    cut = 0
    for b, row in enumerate(rows):
      chosen = set(_chosen(out, b))
      partial = [w for w in _words(row)
                 if 0 < len(chosen & set(range(*w))) < w[1] - w[0]]
      assert len(partial) <= 1
      cut += len(partial)
    assert cut > 0  # the cut does happen

  def test_ngram_lengths(self):
    """n-grams taken while the budget allows any n follow p(n) ~ 1/n."""
    cdf = mlm_masking._ngram_cdf(3, True)  # pylint: disable=protected-access
    seq_len, budget = 1024, 20
    starts = np.arange(1, seq_len - 1)
    lengths = []
    for i in range(1500):
      _, taken = mlm_masking._take_ngrams(  # pylint: disable=protected-access
          np.random.default_rng([0, i]), starts, starts + 1,
          np.zeros_like(starts), budget, cdf, seq_len)
      used = 0
      for _, n in taken:
        if budget - used >= 3:
          lengths.append(n)
        used += n
    fractions = np.bincount(lengths, minlength=4)[1:] / len(lengths)
    assert len(lengths) > 15000
    np.testing.assert_allclose(fractions, [6 / 11, 3 / 11, 2 / 11], atol=0.015)

  def test_overflowing_ngram_falls_back(self):
    """With 2 left, a drawn 3-gram becomes a 2-gram: the first n-gram of a
    budget of 2 is 1 with p 6/11 and 2 with p 5/11 (1/3 if it were skipped)."""
    cdf = mlm_masking._ngram_cdf(3, True)  # pylint: disable=protected-access
    starts = np.arange(1, 127)
    firsts = [mlm_masking._take_ngrams(  # pylint: disable=protected-access
        np.random.default_rng([0, i]), starts, starts + 1,
        np.zeros_like(starts), 2, cdf, 128)[1][0][1] for i in range(3000)]
    assert np.mean(np.array(firsts) == 2) == pytest.approx(5 / 11, abs=0.03)

  def test_favor_shorter_reaches_the_masker(self):
    """Masked runs grow from unigrams to 1/n n-grams to reversed ones."""
    rows = _rows(60, 512, seed=17, full=True)

    def mean_run(**overrides):
      out = _mask_rows(_masker('ngram_tokens', seq_len=512, max_predictions=77,
                               **overrides), rows)
      runs = [e - s + 1 for b in range(len(rows))
              for s, e in _runs(_chosen(out, b), 512)]
      return np.mean(runs)

    unigrams, shorter, longer = (mean_run(ngram_max=1), mean_run(),
                                 mean_run(favor_shorter_ngram=False))
    assert unigrams + 0.3 < shorter < longer - 0.3, (unigrams, shorter, longer)

  def test_ngrams_stay_in_their_segment(self):
    """Segments of two units: no 3-grams, nothing across a segment end."""
    cdf = mlm_masking._ngram_cdf(3, True)  # pylint: disable=protected-access
    starts = np.arange(1, 61)
    segments = (starts - 1) // 2
    seen = set()
    for i in range(200):
      _, taken = mlm_masking._take_ngrams(  # pylint: disable=protected-access
          np.random.default_rng([0, i]), starts, starts + 1, segments, 9, cdf,
          64)
      for u, n in taken:
        assert segments[u] == segments[u + n - 1]
        seen.add(n)
    assert seen == {1, 2}

  def test_ngram_probs(self):
    np.testing.assert_allclose(mlm_masking.ngram_probs(3),
                               [0.5455, 0.2727, 0.1818], atol=1e-4)
    np.testing.assert_allclose(mlm_masking.ngram_probs(3, False),
                               [2 / 11, 3 / 11, 6 / 11])


class TestSpanLengths:

  def test_sampler_probabilities(self):
    probs = mlm_masking.span_length_probs(0.2, 1, 10)
    np.testing.assert_allclose(
        probs, [0.224, 0.179, 0.143, 0.115, 0.092, 0.073, 0.059, 0.047, 0.038,
                0.030], atol=6e-4)
    assert probs @ np.arange(1, 11) == pytest.approx(3.797, abs=1e-3)
    assert (mlm_masking.span_length_probs(0.3, 1, 10) @ np.arange(1, 11)
            == pytest.approx(3.04, abs=0.01))

  @pytest.mark.parametrize('p, mean_words', [(0.2, 3.797), (0.3, 3.043)])
  def test_masked_spans_in_words(self, p, mean_words):
    """Merged spans measure Geo(p) in whole words on average (merging and
    the cut at the budget roughly cancel at 15% of 510 tokens)."""
    rng = np.random.default_rng(12)
    rows = [_row(512, rng.integers(FIRST_WORD, VOCAB, 510)) for _ in range(200)]
    out = _mask_rows(_masker('span', seq_len=512, span_geometric_p=p), rows)
    lengths = []
    for b, row in enumerate(rows):
      word_of = np.full(512, -1)
      for w, (start, end) in enumerate(_words(row)):
        word_of[start:end] = w
      for s, e in _runs(_chosen(out, b), 512):
        lengths.append(word_of[e] - word_of[s] + 1)
    assert len(lengths) > 1500
    assert abs(np.mean(lengths) - mean_words) < 0.3, np.mean(lengths)

  def test_fixed_length_spans(self):
    """With lower = upper = 3, spans away from the segment ends and the cut
    cover at least 3 whole words."""
    rows = _rows(100, 128, seed=13, full=True)
    out = _mask_rows(_masker('span', seq_len=128, span_lower=3, span_upper=3),
                     rows)
    short = 0
    for b, row in enumerate(rows):
      words = _words(row)
      for s, e in _runs(_chosen(out, b), 128):
        n = sum(start <= e and end > s for start, end in words)
        short += n < 3
    assert short <= 2 * len(rows)  # the cut span and a segment end at most


class TestSbo:

  @pytest.fixture(scope='class')
  def masked(self):
    rows = _rows(400, 64, seed=14)
    return rows, _mask_rows(_masker('span', max_pair_targets=3), rows)

  def test_boundaries_are_just_outside_the_span(self, masked):
    rows, out = masked
    touching = long = 0
    for b, row in enumerate(rows):
      candidate = _candidates(row)
      chosen = _chosen(out, b)
      k = len(chosen)
      for s, e in _runs(chosen, 64):
        inside = candidate[s - 1] and e + 1 < 64 and candidate[e + 1]
        touching += not inside
        for i in range(s, e + 1):
          slot = int(np.flatnonzero(chosen == i)[0])
          weight = out['sbo_weights'][b, slot]
          if inside and i - s < 3:
            assert weight == 1
            assert out['sbo_left'][b, slot] == s - 1
            assert out['sbo_right'][b, slot] == e + 1
            assert out['sbo_relpos'][b, slot] == i - s
            assert out['masked_input_ids'][b, s - 1] == row[s - 1]
            assert out['masked_input_ids'][b, e + 1] == row[e + 1]
          else:
            long += inside
            assert weight == 0
            for key in ('sbo_left', 'sbo_right', 'sbo_relpos'):
              assert out[key][b, slot] == 0
      for key in mlm_masking.SBO_KEYS:
        assert (out[key][b, k:] == 0).all()
    assert touching > 50 and long > 50  # both kinds of weight 0 occur

  def test_spans_at_block_ends_get_no_sbo(self):
    """A span right after [CLS] or before [SEP] has MLM targets but no SBO."""
    row = _row(16, [10, 11])  # a 2-token block: any span touches an end
    out = _mask_rows(_masker('span', seq_len=16), [row] * 20)
    assert (out['masked_lm_weights'].sum(1) == 1).all()
    assert (out['sbo_weights'] == 0).all()


class TestSmoothed:

  def _rare_share(self, counts_V):
    """Share of chosen tokens that are the rare id 11, among rows half 10
    (frequent) and half 11."""
    rng = np.random.default_rng(15)
    rows = np.stack([_row(64, rng.permutation([10] * 31 + [11] * 30))
                     for _ in range(200)])
    out = _mask_rows(_masker('smoothed', token_counts_V=counts_V), rows)
    chosen = np.concatenate([row[_chosen(out, b)]
                             for b, row in enumerate(rows)])
    return np.mean(chosen == 11)

  def test_favours_rare_tokens(self):
    """Weights count^-0.7: 10000 vs 100 counts is 25:1 for the rare id."""
    counts_V = np.ones(VOCAB)
    counts_V[10], counts_V[11] = 10000, 100
    assert self._rare_share(counts_V) > 0.9
    assert 0.4 < self._rare_share(None) < 0.6


class TestWordStarts:

  class _Vocab:
    """The Tokenizer protocol's vocabulary side."""

    def __init__(self, pieces):
      self._pieces = pieces
      self.vocab_size = len(pieces)
      ids = {p: i for i, p in enumerate(pieces)}
      self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (
          ids[t] for t in ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'))

    def id_to_token(self, i):
      return self._pieces[i]

  SPECIAL = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']

  def test_wordpiece(self):
    pieces = self.SPECIAL + ['the', '##s', 'un', '##want', ',', '[unused0]',
                             '##,']
    starts = mlm_masking.word_starts(self._Vocab(pieces))
    assert starts.tolist() == [True] * 5 + [True, False, True, False, True,
                                            True, False]

  def test_sentencepiece(self):
    pieces = self.SPECIAL + ['▁the', 's', 'ing', 'x', 'X', '▁', ',', '19',
                             'é', "'s", '<unk>', '▁19']
    starts = mlm_masking.word_starts(self._Vocab(pieces))
    assert starts.tolist() == [True] * 5 + [True, False, False, False, False,
                                            True, True, True, True, True, True,
                                            True]

  def test_kind_argument(self):
    pieces = self.SPECIAL + ['##a', 'b']
    vocab = self._Vocab(pieces)
    assert mlm_masking.word_starts(vocab)[5:].tolist() == [False, True]
    assert mlm_masking.word_starts(vocab, 'sentencepiece')[5:].tolist() == [
        True, False]


class TestTfMasker:

  @pytest.mark.parametrize('config', ['span', 'ngram_words', 'smoothed'])
  def test_same_as_numpy_with_static_shapes(self, config):
    tf = tf_module()
    seq_len = 64
    masker = _masker(config, seq_len=seq_len)
    kind = CONFIGS[config]['kind']
    n = mlm_masking.num_slots(kind, 0.15, seq_len, 10)
    rows = _rows(8, seq_len, seed=16)
    indices = np.arange(100, 108, dtype=np.int64)
    ds = tf.data.Dataset.from_tensor_slices(
        (dict(input_ids=rows, segment_ids=np.zeros_like(rows),
              sentence_label=np.zeros(8, np.int32)), indices))
    ds = ds.map(mlm_masking.tf_masker(masker, seq_len=seq_len, num_slots=n,
                                      with_sbo=kind == 'span'))
    for key, spec in ds.element_spec.items():
      assert spec.shape.is_fully_defined(), key
    got = next(ds.batch(8).as_numpy_iterator())
    expected = _mask_rows(masker, rows, indices)
    assert set(got) == set(expected)
    for key, value in expected.items():
      np.testing.assert_array_equal(got[key], value, err_msg=key)
      assert got[key].dtype == value.dtype, key
