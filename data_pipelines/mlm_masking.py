"""The BERT family's maskers (algorithms.md §1.2-1.5, §1.11), in numpy.

Kinds:
  'token': BERT (§1.2): a shuffled pass over candidates, 80/10/10 per token,
      random tokens uniform over the whole vocabulary. With a word-start table
      the units are whole words (§1.3); with ngram_max > 1 a unit and the
      next n-1 are taken together, n ~ 1/n (ALBERT, §1.4).
  'span': SpanBERT (§1.5): Geo(p) spans of whole words up to ceil(p * block)
      tokens, one 80/10/10 draw per merged span, random tokens by unigram
      frequency, and Span Boundary Objective targets.
  'smoothed': DistilBERT (§1.11): positions drawn without replacement with
      probability ~ count(token)^-0.7, so rare tokens are masked more often.

Each example is masked with `np.random.default_rng([seed, example_index])`, so
its masks are a pure function of (seed, example index), as for ELECTRA's
masker: the same after a restart and whatever the batch size or host count.
These maskers are numpy rather than TF ops because the whole-word, n-gram and
span loops are sequential (each choice depends on what is already covered).
The same function serves tf.data (through `tf_masker`) and TensorFlow-free
synthetic batches.

[CLS], [SEP], [MASK] and [PAD] are never candidates, and units never cross
them: a word, n-gram or span stays inside one segment.
"""
import bisect
import dataclasses
import math
from typing import Callable, Optional

import numpy as np

from data_pipelines import tf_cpu
from lm_jax.errors import InputError

KINDS = ('token', 'span', 'smoothed')

MLM_KEYS = ('input_mask', 'masked_input_ids', 'masked_lm_positions',
            'masked_lm_ids', 'masked_lm_weights')
SBO_KEYS = ('sbo_left', 'sbo_right', 'sbo_relpos', 'sbo_weights')


def _ceil_product(p: float, n: int) -> int:
  """ceil(p * n) of the exact product: 0.15 * 20 is 3.0000000000000004 in
  floating point, whose plain ceil would be 4."""
  return math.ceil(round(p * n, 9))


def num_slots(kind: str, mask_prob: float, seq_len: int,
              max_predictions: Optional[int] = None) -> int:
  """N, the length of the [N] outputs: max_predictions for 'token'; enough
  for any budget, ceil(mask_prob * seq_len), for 'span' and 'smoothed'."""
  if kind == 'token':
    if max_predictions is None or max_predictions < 1:
      raise InputError(f'token masking needs max_predictions >= 1, got '
                       f'{max_predictions}')
    return max_predictions
  if kind in ('span', 'smoothed'):
    return _ceil_product(mask_prob, seq_len)
  raise InputError(f'unknown masking kind {kind!r} (expected one of '
                   f'{", ".join(KINDS)})')


def _starts_sentencepiece_word(piece: str) -> bool:
  """ALBERT's rule: '▁' marks a word start and '<' a control piece; a piece
  that is not all English letters (punctuation, digits, other scripts) is a
  word of its own. Only plain letters continue the previous piece's word."""
  return piece.startswith(('▁', '<')) or not (piece.isascii() and
                                              piece.isalpha())


def word_starts(tokenizer, kind: Optional[str] = None) -> np.ndarray:
  """bool [V]: True where a vocabulary piece starts a word (§1.3).

  Args:
    tokenizer: a `tokenizers.Tokenizer`.
    kind: 'wordpiece' (pieces after the first carry '##') or 'sentencepiece'
      (ALBERT's rule); by default WordPiece if any piece starts with '##'.
  """
  pieces = [tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)]
  if kind is None:
    kind = ('wordpiece' if any(p.startswith('##') for p in pieces)
            else 'sentencepiece')
  if kind == 'wordpiece':
    starts_V = np.array([not p.startswith('##') for p in pieces], bool)
  elif kind == 'sentencepiece':
    starts_V = np.array([_starts_sentencepiece_word(p) for p in pieces], bool)
  else:
    raise InputError(f'unknown vocabulary kind {kind!r} (expected wordpiece '
                     'or sentencepiece)')
  starts_V[[tokenizer.pad_id, tokenizer.unk_id, tokenizer.cls_id,
            tokenizer.sep_id, tokenizer.mask_id]] = True
  return starts_V


def ngram_probs(ngram_max: int, favor_shorter: bool = True) -> np.ndarray:
  """p(n) ~ 1/n for n = 1..ngram_max (ALBERT): [6, 3, 2] / 11 for 3;
  reversed when favor_shorter is False."""
  probs = 1.0 / np.arange(1, ngram_max + 1)
  probs /= probs.sum()
  return probs if favor_shorter else probs[::-1].copy()


def _ngram_cdf(ngram_max: int, favor_shorter: bool) -> np.ndarray:
  """[ngram_max + 1, ngram_max]: row k is the CDF of n when only k units are
  left in the segment (ALBERT renormalises the first k probabilities). Only
  its first k - 1 entries matter: a uniform in [0, 1) passes none of the 1s."""
  probs = ngram_probs(ngram_max, favor_shorter)
  cdf_KxN = np.ones((ngram_max + 1, ngram_max))
  for k in range(2, ngram_max + 1):
    cdf_KxN[k, :k - 1] = np.cumsum(probs[:k - 1]) / probs[:k].sum()
  return cdf_KxN


def span_length_probs(p: float, lower: int, upper: int) -> np.ndarray:
  """p(l) ~ p (1 - p)^(l - lower) for l = lower..upper (SpanBERT): mean 3.797
  words at p = 0.2, [1, 10]."""
  probs = p * (1 - p) ** np.arange(upper - lower + 1)
  return probs / probs.sum()


def _cdf(weights):
  """The CDF of unnormalised weights, ending at exactly 1."""
  cdf = np.cumsum(weights, dtype=np.float64)
  return cdf / cdf[-1]


def _cdf_draw(cdf, u):
  """Inverse-CDF sampling for uniforms u in [0, 1): never an index whose
  weight is 0."""
  return np.searchsorted(cdf, u, side='right')


def make_masker(kind: str, *, seq_len: int, seed: int, vocab_size: int,
                pad_id: int, cls_id: int, sep_id: int, mask_id: int,
                mask_prob: float = 0.15, max_predictions: Optional[int] = None,
                word_start_V: Optional[np.ndarray] = None,
                ngram_max: int = 1, favor_shorter_ngram: bool = True,
                mask_token_prob: float = 0.8, random_token_prob: float = 0.1,
                span_geometric_p: float = 0.2, span_lower: int = 1,
                span_upper: int = 10, max_pair_targets: int = 15,
                token_counts_V: Optional[np.ndarray] = None,
                smoothing: float = 0.7) -> Callable[[dict, int], dict]:
  """A masker (example, example_index) -> example plus MLM (and SBO) arrays.

  Args:
    kind: 'token', 'span' or 'smoothed' (see the module docstring).
    max_predictions: the budget cap and slot count of 'token'.
    word_start_V: bool [V] from `word_starts`; words are then the units of
      'token' and 'span' ('span' treats every token as a word without it).
    ngram_max: 'token' only; the longest n-gram, in units.
    mask_token_prob, random_token_prob: the [MASK] and random-token shares of
      the chosen tokens (per token, per merged span for 'span'); the rest keep
      their token.
    token_counts_V: corpus counts [V]: the unigram distribution of 'span''s
      random tokens (uniform over non-special ids without it), and the counts
      that 'smoothed' raises to -smoothing (all equal without it).

  The example holds `input_ids` int32 [L] (`[CLS] A [SEP] (B [SEP]) pad...`);
  the masker adds input_mask [L], masked_input_ids [L], masked_lm_positions
  [N] (ascending, unused slots 0), masked_lm_ids [N] (original ids, 0 when
  unused) and masked_lm_weights [N] (f32), N = `num_slots(kind, ...)`. 'span'
  also adds SBO targets aligned with the MLM slots: sbo_left and sbo_right
  [N] (positions s-1 and e+1 just outside the target's merged span [s, e]),
  sbo_relpos [N] (i - s) and sbo_weights [N] (f32), 1 where the span has both
  outside tokens in the block and i - s < max_pair_targets, where the three
  others are 0 too (max_pair_targets 0: no SBO targets). An SBO target's
  label is its masked_lm_ids entry.
  """
  num_slots_ = num_slots(kind, mask_prob, seq_len, max_predictions)
  if word_start_V is not None:
    word_start_V = np.asarray(word_start_V, bool)
  if token_counts_V is not None:
    token_counts_V = np.asarray(token_counts_V, np.float64)
  _check_common(seq_len=seq_len, seed=seed, vocab_size=vocab_size,
                special_ids=(pad_id, cls_id, sep_id, mask_id),
                mask_prob=mask_prob, mask_token_prob=mask_token_prob,
                random_token_prob=random_token_prob,
                word_start_V=word_start_V, token_counts_V=token_counts_V)
  special_V = np.zeros(vocab_size, bool)
  special_V[[pad_id, cls_id, sep_id, mask_id]] = True
  ctx = _Context(seq_len=seq_len, seed=seed, vocab_size=vocab_size,
                 pad_id=pad_id, mask_id=mask_id, special_V=special_V,
                 word_start_V=word_start_V, num_slots=num_slots_,
                 mask_token_prob=mask_token_prob,
                 random_token_prob=random_token_prob)

  if kind == 'token':
    if ngram_max < 1:
      raise InputError(f'ngram_max must be >= 1, got {ngram_max}')
    cdf_KxN = _ngram_cdf(ngram_max, favor_shorter_ngram)
    return lambda example, index: _mask_tokens(
        ctx, example, index, mask_prob=mask_prob,
        max_predictions=max_predictions, word_units=word_start_V is not None,
        cdf_KxN=cdf_KxN)

  if kind == 'span':
    if not 0 < span_geometric_p <= 1:
      raise InputError(f'span_geometric_p must be in (0, 1], got '
                       f'{span_geometric_p}')
    if not 1 <= span_lower <= span_upper:
      raise InputError(f'span lengths need 1 <= span_lower <= span_upper, got '
                       f'[{span_lower}, {span_upper}]')
    if span_lower > seq_len - 2:
      raise InputError(f'span_lower {span_lower} is longer than the '
                       f'{seq_len - 2} tokens a block of {seq_len} can hold')
    if max_pair_targets < 0:
      raise InputError(f'max_pair_targets must be >= 0, got {max_pair_targets}')
    if token_counts_V is None:
      unigram_V = (~special_V).astype(np.float64)
    else:
      unigram_V = np.where(special_V, 0.0, token_counts_V)
    if unigram_V.sum() <= 0:
      raise InputError('token_counts_V counts no ordinary token')
    length_cdf = _cdf(span_length_probs(span_geometric_p, span_lower,
                                        span_upper)).tolist()
    unigram_cdf = _cdf(unigram_V)
    return lambda example, index: _mask_spans(
        ctx, example, index, mask_prob=mask_prob, span_lower=span_lower,
        length_cdf=length_cdf, unigram_cdf=unigram_cdf,
        max_pair_targets=max_pair_targets)

  # 'smoothed' (num_slots has rejected any other kind).
  if smoothing < 0:
    raise InputError(f'smoothing must be >= 0, got {smoothing}')
  counts_V = (np.ones(vocab_size) if token_counts_V is None
              else np.maximum(token_counts_V, 1.0))
  weight_V = np.where(special_V, 0.0, counts_V ** -smoothing)
  return lambda example, index: _mask_smoothed(
      ctx, example, index, mask_prob=mask_prob, weight_V=weight_V)


def _check_common(*, seq_len, seed, vocab_size, special_ids, mask_prob,
                  mask_token_prob, random_token_prob, word_start_V,
                  token_counts_V):
  if seq_len < 2:
    raise InputError(f'seq_len must hold [CLS] and [SEP], got {seq_len}')
  if seed < 0:
    raise InputError(f'the masking seed must be >= 0, got {seed}')
  for i in special_ids:
    if not 0 <= i < vocab_size:
      raise InputError(f'special id {i} is outside the vocabulary [0, '
                       f'{vocab_size})')
  if not 0 < mask_prob <= 1:
    raise InputError(f'mask_prob must be in (0, 1], got {mask_prob}')
  if (min(mask_token_prob, random_token_prob) < 0
      or mask_token_prob + random_token_prob > 1):
    raise InputError(
        f'mask_token_prob {mask_token_prob} and random_token_prob '
        f'{random_token_prob} must be >= 0 and sum to at most 1')
  for name, table in (('word_start_V', word_start_V),
                      ('token_counts_V', token_counts_V)):
    if table is not None and np.shape(table) != (vocab_size,):
      raise InputError(f'{name} has shape {np.shape(table)}, expected '
                       f'({vocab_size},)')
  if token_counts_V is not None and (token_counts_V < 0).any():
    raise InputError('token_counts_V has negative counts')


@dataclasses.dataclass(frozen=True)
class _Context:
  """The settings every kind needs, and the steps they share."""
  seq_len: int
  seed: int
  vocab_size: int
  pad_id: int
  mask_id: int
  special_V: np.ndarray
  word_start_V: Optional[np.ndarray]
  num_slots: int
  mask_token_prob: float
  random_token_prob: float

  def start(self, example, index):
    """(rng, ids_L, candidate_L) for one example."""
    ids_L = np.asarray(example['input_ids'])
    if ids_L.shape != (self.seq_len,):
      raise InputError(f'input_ids has shape {ids_L.shape}, expected '
                       f'({self.seq_len},)')
    rng = np.random.default_rng([self.seed, int(index)])
    return rng, ids_L, ~self.special_V[ids_L]

  def units(self, ids_L, candidate_L):
    """Words (or tokens) as half-open [start, end) and each one's segment.

    A unit starts at a word-start piece or after a non-candidate, so words
    never cross [SEP]; segment ids number the runs of candidates.
    """
    after_gap_L = np.ones(self.seq_len, bool)
    after_gap_L[1:] = ~candidate_L[:-1]
    start_L = candidate_L.copy()
    if self.word_start_V is not None:
      start_L &= self.word_start_V[ids_L] | after_gap_L
    starts_U = np.flatnonzero(start_L)
    gaps = np.append(np.flatnonzero(~candidate_L), self.seq_len)
    segment_U = np.searchsorted(gaps, starts_U)
    ends_U = np.minimum(np.append(starts_U[1:], self.seq_len), gaps[segment_U])
    return starts_U, ends_U, segment_U

  def finish(self, example, ids_L, positions_K, new_ids_K):
    """The MLM outputs for the chosen (ascending) positions."""
    n, k = self.num_slots, len(positions_K)
    masked_ids_L = ids_L.astype(np.int32)  # a copy
    masked_ids_L[positions_K] = new_ids_K
    positions_N = np.zeros(n, np.int32)
    positions_N[:k] = positions_K
    labels_N = np.zeros(n, np.int32)
    labels_N[:k] = ids_L[positions_K]
    weights_N = np.zeros(n, np.float32)
    weights_N[:k] = 1.0
    return dict(example, input_mask=(ids_L != self.pad_id).astype(np.int32),
                masked_input_ids=masked_ids_L, masked_lm_positions=positions_N,
                masked_lm_ids=labels_N, masked_lm_weights=weights_N)

  def decide(self, u_K, original_K, random_K):
    """80/10/10: [MASK] below mask_token_prob, a random id in the next
    random_token_prob, else the original."""
    return np.where(
        u_K < self.mask_token_prob, self.mask_id,
        np.where(u_K < self.mask_token_prob + self.random_token_prob,
                 random_K, original_K)).astype(np.int32)


def _mask_tokens(ctx, example, index, *, mask_prob, max_predictions,
                 word_units, cdf_KxN):
  """BERT (§1.2), whole-word BERT (§1.3) and ALBERT n-grams (§1.4)."""
  rng, ids_L, candidate_L = ctx.start(example, index)
  num_tokens = int(np.count_nonzero(ids_L != ctx.pad_id))
  # Python's round is half-to-even, like ELECTRA's masker.
  budget = min(max_predictions, max(1, round(num_tokens * mask_prob)))
  if not word_units and cdf_KxN.shape[1] == 1:
    positions_K = np.sort(rng.permutation(np.flatnonzero(candidate_L))[:budget])
  else:
    positions_K = _greedy_units(rng, ctx, ids_L, candidate_L, budget,
                                cdf_KxN)
  k = len(positions_K)
  new_ids_K = ctx.decide(rng.random(k), ids_L[positions_K],
                         rng.integers(0, ctx.vocab_size, k))
  return ctx.finish(example, ids_L, positions_K, new_ids_K)


def _greedy_units(rng, ctx, ids_L, candidate_L, budget, cdf_KxN):
  """Ascending positions of whole units (words or tokens) or their n-grams."""
  starts_U, ends_U, segment_U = ctx.units(ids_L, candidate_L)
  positions_K, _ = _take_ngrams(rng, starts_U, ends_U, segment_U, budget,
                                cdf_KxN, ctx.seq_len)
  return positions_K


def _take_ngrams(rng, starts_U, ends_U, segment_U, budget, cdf_KxN, seq_len):
  """ALBERT's loop: over shuffled start units, draw n, shorten it until it
  fits the budget, and take it unless it overlaps what is covered. With
  ngram_max 1 this is BERT's whole-word loop.

  Returns:
    positions_K: the chosen positions, ascending.
    taken: (start unit, n) of each n-gram taken, in the order taken.
  """
  num_units = len(starts_U)
  ngram_max = cdf_KxN.shape[1]
  # Units left in the segment from each unit on, capped at ngram_max: the
  # draw is renormalised over the n-grams that exist there.
  last_U = np.searchsorted(segment_U, segment_U, side='right') - 1
  left_U = np.minimum(last_U - np.arange(num_units) + 1, ngram_max)
  order_U = rng.permutation(num_units)
  # n for every unit at once: 1 + how many CDF steps its uniform passes.
  n_U = 1 + (rng.random(num_units)[:, None] >= cdf_KxN[left_U]).sum(1)
  # Python lists and ints: the loop is sequential, and numpy's per-call cost
  # would dominate it.
  covered = [False] * seq_len
  count = 0
  taken, positions = [], []
  starts, ends, ns = starts_U.tolist(), ends_U.tolist(), n_U.tolist()
  for u in order_U.tolist():
    if count >= budget:
      break
    n = ns[u]
    start = starts[u]
    while n > 1 and count + ends[u + n - 1] - start > budget:
      n -= 1
    end = ends[u + n - 1]
    if count + end - start > budget or any(covered[start:end]):
      continue
    covered[start:end] = [True] * (end - start)
    count += end - start
    taken.append((u, n))
    positions.extend(range(start, end))
  return np.sort(np.array(positions, np.int64)), taken


def _mask_spans(ctx, example, index, *, mask_prob, span_lower, length_cdf,
                unigram_cdf, max_pair_targets):
  """SpanBERT (§1.5) with SBO targets."""
  rng, ids_L, candidate_L = ctx.start(example, index)
  block_B = np.flatnonzero(candidate_L)
  budget = _ceil_product(mask_prob, len(block_B))
  starts_U, ends_U, segment_U = ctx.units(ids_L, candidate_L)
  is_start_L = np.zeros(ctx.seq_len, bool)
  is_start_L[starts_U] = True
  last_U = np.searchsorted(segment_U, segment_U, side='right') - 1
  # Python lists and ints: the loop is sequential, and numpy's per-call cost
  # would dominate it.
  unit_of, block = (np.cumsum(is_start_L) - 1).tolist(), block_B.tolist()
  starts, ends, last = starts_U.tolist(), ends_U.tolist(), last_U.tolist()
  masked = [False] * ctx.seq_len
  count = 0
  uniforms = iter(())
  while count < budget:
    pair = next(uniforms, None)
    if pair is None:  # uniforms in blocks: one (length, anchor) pair a try
      uniforms = iter(rng.random((budget + 8, 2)).tolist())
      continue
    length = span_lower + bisect.bisect_right(length_cdf, pair[0])
    anchor = block[min(int(pair[1] * len(block)), len(block) - 1)]
    if masked[anchor]:
      continue  # resample, as SpanBERT does
    u = unit_of[anchor]
    # Whole words from the anchor's on, within its segment, stopping as soon
    # as the budget is reached, even mid-word.
    for i in range(starts[u], ends[min(u + length - 1, last[u])]):
      if count >= budget:
        break
      if not masked[i]:
        masked[i] = True
        count += 1
  masked_L = np.array(masked)

  # Merged spans: the maximal runs of masked positions (spans that overlap
  # or touch merge; spans in different segments never touch).
  edges = np.diff(masked_L.astype(np.int8), prepend=0, append=0)
  span_s_S = np.flatnonzero(edges == 1)
  span_e_S = np.flatnonzero(edges == -1) - 1
  positions_K = np.flatnonzero(masked_L)
  span_K = np.searchsorted(span_s_S, positions_K, side='right') - 1
  k = len(positions_K)
  u_S = rng.random(len(span_s_S))
  random_K = _cdf_draw(unigram_cdf, rng.random(k))
  new_ids_K = ctx.decide(u_S[span_K], ids_L[positions_K], random_K)
  out = ctx.finish(example, ids_L, positions_K, new_ids_K)

  # SBO: both outside tokens must be block tokens (not [CLS], [SEP] or pad).
  left_S, right_S = span_s_S - 1, span_e_S + 1
  has_both_S = (candidate_L[np.maximum(left_S, 0)] & (left_S >= 0)
                & candidate_L[np.minimum(right_S, ctx.seq_len - 1)]
                & (right_S < ctx.seq_len))
  relpos_K = positions_K - span_s_S[span_K]
  used_K = has_both_S[span_K] & (relpos_K < max_pair_targets)
  n = ctx.num_slots
  for name, values_K in (('sbo_left', left_S[span_K]),
                         ('sbo_right', right_S[span_K]),
                         ('sbo_relpos', relpos_K)):
    values_N = np.zeros(n, np.int32)
    values_N[:k] = np.where(used_K, values_K, 0)
    out[name] = values_N
  weights_N = np.zeros(n, np.float32)
  weights_N[:k] = used_K
  out['sbo_weights'] = weights_N
  return out


def _mask_smoothed(ctx, example, index, *, mask_prob, weight_V):
  """DistilBERT (§1.11), per example: ceil(p * non-pad tokens) positions."""
  rng, ids_L, _ = ctx.start(example, index)
  num_tokens = int(np.count_nonzero(ids_L != ctx.pad_id))
  weight_L = weight_V[ids_L]
  eligible_L = weight_L > 0
  budget = min(_ceil_product(mask_prob, num_tokens),
               int(np.count_nonzero(eligible_L)))
  # Weighted sampling without replacement by exponential races: the k
  # smallest Exp(1) / w are distributed as k successive weighted draws.
  keys_L = np.full(ctx.seq_len, np.inf)
  exponential_L = rng.exponential(size=ctx.seq_len)
  keys_L[eligible_L] = exponential_L[eligible_L] / weight_L[eligible_L]
  positions_K = np.sort(np.argpartition(keys_L, budget)[:budget]
                        if budget < ctx.seq_len else np.arange(budget))
  new_ids_K = ctx.decide(rng.random(budget), ids_L[positions_K],
                         rng.integers(0, ctx.vocab_size, budget))
  return ctx.finish(example, ids_L, positions_K, new_ids_K)


def tf_masker(numpy_masker: Callable, *, seq_len: int, num_slots: int,
              with_sbo: bool) -> Callable:
  """Wraps a `make_masker` masker for `tf.data` `map(fn(example, index))`.

  The masks depend on input_ids and the int64 example index alone; the other
  keys pass through. The numpy function holds the GIL, so parallel maps
  overlap it with TF's own work only.
  """
  tf = tf_cpu.tf()
  keys = MLM_KEYS + (SBO_KEYS if with_sbo else ())
  dtypes = [tf.float32 if key.endswith('weights') else tf.int32 for key in keys]
  shapes = [[seq_len] if key in ('input_mask', 'masked_input_ids')
            else [num_slots] for key in keys]

  def run(ids_L, index):
    out = numpy_masker({'input_ids': ids_L}, int(index))
    return [out[key] for key in keys]

  def mask(example: dict, example_index) -> dict:
    outputs = tf.numpy_function(
        run, [example['input_ids'], tf.cast(example_index, tf.int64)], dtypes,
        stateful=False)
    return dict(example, **{
        key: tf.ensure_shape(value, shape)
        for key, value, shape in zip(keys, outputs, shapes)})

  return mask
