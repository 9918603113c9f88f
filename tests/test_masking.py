"""Tests for data_pipelines.masking: ELECTRA's dynamic masker (§1.9)."""

import numpy as np
import pytest

from data_pipelines import masking
from data_pipelines.tf_cpu import tf as tf_module

PAD, CLS, SEP, MASK = 0, 1, 2, 3
FIRST_WORD = 10  # ordinary token ids start here
SPECIALS = (PAD, CLS, SEP, MASK)


def _row(words, seq_len: int) -> np.ndarray:
  """[CLS] words [SEP] then padding, as int32 [seq_len]."""
  ids = [CLS, *words, SEP]
  return np.array(ids + [PAD] * (seq_len - len(ids)), np.int32)


def _mask_rows(rows, indices=None, *, seed: int = 0, mask_prob: float = 0.15,
               mask_token_prob: float = 0.85) -> dict:
  """Runs electra_mask on each row (in one tf.data pass); numpy [n, ...]."""
  tf = tf_module()
  rows = np.asarray(rows, np.int32)
  if indices is None:
    indices = np.arange(len(rows))
  indices = np.asarray(indices, np.int64)

  def mask(ids, index):
    return masking.electra_mask(
        dict(input_ids=ids, segment_ids=tf.zeros_like(ids)), index, seed=seed,
        mask_prob=mask_prob, mask_token_prob=mask_token_prob, pad_id=PAD,
        cls_id=CLS, sep_id=SEP, mask_id=MASK)

  ds = tf.data.Dataset.from_tensor_slices((rows, indices)).map(mask)
  return next(ds.batch(len(rows)).as_numpy_iterator())


def _full_rows(count: int, seq_len: int, seed: int = 0) -> np.ndarray:
  """Rows with no padding and random ordinary tokens."""
  rng = np.random.default_rng(seed)
  return np.stack([_row(rng.integers(FIRST_WORD, 1000, seq_len - 2), seq_len)
                   for _ in range(count)])


def _chosen(out, b):
  """Positions of example b's weighted slots."""
  return out['masked_lm_positions'][b][out['masked_lm_weights'][b] > 0]


class TestMaxPredictions:

  @pytest.mark.parametrize('mask_prob, seq_len, expected', [
      (0.15, 128, 19), (0.15, 512, 79), (0.25, 512, 130)])
  def test_spec_values(self, mask_prob, seq_len, expected):
    """N = int((p + 0.005) * L) gives the slot counts listed in the spec."""
    assert masking.max_predictions(mask_prob, seq_len) == expected

  def test_output_slots_match(self):
    """The [N] outputs have exactly max_predictions slots."""
    out = _mask_rows(_full_rows(2, 64))
    n = masking.max_predictions(0.15, 64)
    for key in ('masked_lm_positions', 'masked_lm_ids', 'masked_lm_weights'):
      assert out[key].shape == (2, n)
    for key in ('input_ids', 'segment_ids', 'input_mask', 'masked_input_ids'):
      assert out[key].shape == (2, 64)


class TestBudget:

  def test_budget_counts_specials_and_is_capped(self):
    """Weighted slots = max(1, min(N, round(n * p))), n counting [CLS]/[SEP]."""
    seq_len, p = 128, 0.15
    lengths = np.arange(3, seq_len + 1)  # real tokens, specials included
    rows = [_row(np.arange(FIRST_WORD, FIRST_WORD + n - 2), seq_len)
            for n in lengths]
    out = _mask_rows(rows, mask_prob=p)
    n_slots = masking.max_predictions(p, seq_len)
    for b, n in enumerate(lengths):
      expected = max(1, min(n_slots, round(n * p)))
      assert out['masked_lm_weights'][b].sum() == expected, n
      np.testing.assert_array_equal(out['input_mask'][b],
                                    (np.arange(seq_len) < n).astype(np.int32))

  @pytest.mark.parametrize('real_tokens, expected', [(5, 2), (7, 4), (9, 4),
                                                     (11, 6)])
  def test_rounds_half_to_even(self, real_tokens, expected):
    """Ties in n * p round to even (TF's round), not up."""
    # p = 0.5 makes n * p an exact tie for odd n; N = 16 does not bind.
    out = _mask_rows([_row(range(FIRST_WORD, FIRST_WORD + real_tokens - 2), 32)],
                     mask_prob=0.5)
    assert out['masked_lm_weights'][0].sum() == expected

  def test_at_least_one_prediction(self):
    """A very short example still predicts one token."""
    out = _mask_rows([_row([FIRST_WORD], 64)])  # 3 * 0.15 rounds to 0
    assert out['masked_lm_weights'][0].sum() == 1
    assert _chosen(out, 0).tolist() == [1]


class TestPositions:

  @pytest.fixture(scope='class')
  def masked(self):
    """Padded rows that also contain [MASK], [CLS] and [SEP] mid-sequence."""
    rng = np.random.default_rng(1)
    rows = []
    for _ in range(200):
      words = rng.integers(FIRST_WORD, 1000, rng.integers(20, 62))
      words[rng.integers(0, len(words), 3)] = rng.choice([CLS, SEP, MASK], 3)
      rows.append(_row(words, 64))
    rows = np.stack(rows)
    return rows, _mask_rows(rows)

  def test_specials_and_padding_never_chosen(self, masked):
    """[CLS], [SEP], [MASK] and [PAD] positions never get a weight."""
    rows, out = masked
    for b, row in enumerate(rows):
      assert not np.isin(row[_chosen(out, b)], SPECIALS).any()

  def test_no_duplicate_positions(self, masked):
    """Weighted slots point at distinct positions."""
    _, out = masked
    for b in range(len(out['input_ids'])):
      chosen = _chosen(out, b)
      assert len(np.unique(chosen)) == len(chosen)

  def test_used_slots_first_and_unused_zeroed(self, masked):
    """Unused slots have position 0, label 0 and weight 0, after the used ones."""
    _, out = masked
    weights = out['masked_lm_weights']
    assert set(np.unique(weights)) <= {0.0, 1.0}
    unused = weights == 0
    assert (out['masked_lm_positions'][unused] == 0).all()
    assert (out['masked_lm_ids'][unused] == 0).all()
    # Weights are non-increasing along the slots: used slots come first.
    assert (np.diff(weights, axis=1) <= 0).all()

  def test_labels_are_original_tokens(self, masked):
    """masked_lm_ids are the original tokens at the chosen positions."""
    rows, out = masked
    for b, row in enumerate(rows):
      used = out['masked_lm_weights'][b] > 0
      np.testing.assert_array_equal(
          out['masked_lm_ids'][b][used], row[out['masked_lm_positions'][b][used]])

  def test_only_chosen_positions_change(self, masked):
    """masked_input_ids differ from input_ids only at chosen positions."""
    rows, out = masked
    np.testing.assert_array_equal(out['input_ids'], rows)
    for b, row in enumerate(rows):
      changed = np.flatnonzero(out['masked_input_ids'][b] != row)
      assert set(changed) <= set(_chosen(out, b))

  def test_every_candidate_can_be_chosen(self):
    """Over many examples every ordinary position gets picked sometimes."""
    rows = _full_rows(200, 64, seed=4)
    out = _mask_rows(rows)
    picked = np.zeros(rows.shape, bool)
    for b in range(len(rows)):
      picked[b, _chosen(out, b)] = True
    # 10 of 62 candidates per row: a position is missed by all 200 rows with
    # probability (52/62)^200 ~ 1e-15.
    assert picked[:, 1:-1].any(0).all()
    assert not picked[:, [0, -1]].any()


class TestReplacement:

  def test_mask_fraction_and_no_random_tokens(self):
    """~85% of chosen positions become [MASK]; the rest keep their token."""
    rows = _full_rows(300, 128, seed=2)
    out = _mask_rows(rows)
    masked_count = kept = 0
    for b, row in enumerate(rows):
      chosen = _chosen(out, b)
      new = out['masked_input_ids'][b][chosen]
      is_mask = new == MASK
      # No random replacement: a chosen token is [MASK] or unchanged.
      np.testing.assert_array_equal(new[~is_mask], row[chosen][~is_mask])
      masked_count += is_mask.sum()
      kept += (~is_mask).sum()
    total = masked_count + kept
    assert total == 300 * 19
    # Binomial std at 5700 draws is ~0.005; allow 6 std.
    assert abs(masked_count / total - 0.85) < 0.03

  def test_mask_token_prob_is_used(self):
    """mask_token_prob = 1 masks every chosen position, 0 masks none."""
    rows = _full_rows(20, 64)
    for prob, expect_mask in ((1.0, True), (0.0, False)):
      out = _mask_rows(rows, mask_token_prob=prob)
      for b in range(len(rows)):
        new = out['masked_input_ids'][b][_chosen(out, b)]
        assert ((new == MASK) == expect_mask).all()


class TestDeterminism:

  def test_same_seed_and_index_same_output(self):
    """(seed, example index) fully determines the mask."""
    rows = _full_rows(4, 64)
    first = _mask_rows(rows, [5, 6, 7, 8], seed=3)
    # The same examples in another order and batch give the same masks.
    second = _mask_rows(rows[::-1], [8, 7, 6, 5], seed=3)
    for key, value in first.items():
      np.testing.assert_array_equal(value, second[key][::-1], err_msg=key)

  def test_index_and_seed_change_positions(self):
    """A different example index or seed gives different positions."""
    row = _full_rows(1, 128)
    rows = np.repeat(row, 3, axis=0)
    by_index = _mask_rows(rows, [0, 1, 2], seed=0)['masked_lm_positions']
    other_seed = _mask_rows(rows, [0, 1, 2], seed=1)['masked_lm_positions']
    assert len({tuple(p) for p in by_index}) == 3
    for a, b in zip(by_index, other_seed):
      assert not np.array_equal(a, b)


class TestNoCandidates:

  @pytest.mark.parametrize('words', [[], [MASK, SEP, CLS]])
  def test_only_specials_gives_no_predictions(self, words):
    """A row of specials only has all-zero weights and is left unchanged."""
    row = _row(words, 32)
    out = _mask_rows([row])
    assert (out['masked_lm_weights'] == 0).all()
    assert (out['masked_lm_positions'] == 0).all()
    np.testing.assert_array_equal(out['masked_input_ids'][0], row)
