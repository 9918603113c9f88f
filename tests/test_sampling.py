"""lm_jax/sampling.py: greedy, temperature, top-k and top-p token choice."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import assert_one_line
from lm_jax import sampling
from lm_jax.errors import InputError

PROBS = np.array([0.5, 0.3, 0.15, 0.05], np.float32)


def _logits(*rows):
  """A B x V float32 array of logits whose softmax is each row of `rows`."""
  return jnp.log(jnp.array(rows, jnp.float32))


def _kept(logits_BxV):
  """Per row, the sorted indices of tokens a filter kept."""
  return [np.flatnonzero(np.isfinite(row)).tolist()
          for row in np.asarray(logits_BxV)]


def _reference_top_p(scores_BxV, top_p):
  """transformers' TopPLogitsWarper transliterated to NumPy: sort ascending,
  drop tokens whose cumulative probability is <= 1 - top_p, keep the top."""
  order_BxV = np.argsort(scores_BxV, axis=-1, kind='stable')
  sorted_BxV = np.take_along_axis(scores_BxV, order_BxV, axis=-1)
  probs_BxV = np.exp(sorted_BxV - sorted_BxV.max(-1, keepdims=True))
  probs_BxV /= probs_BxV.sum(-1, keepdims=True)
  remove_BxV = np.cumsum(probs_BxV, axis=-1) <= 1 - top_p
  remove_BxV[..., -1] = False
  out_BxV = scores_BxV.copy()
  np.put_along_axis(out_BxV, order_BxV,
                    np.where(remove_BxV, -np.inf, sorted_BxV), axis=-1)
  return out_BxV


def _reference_top_k(scores_BxV, top_k):
  """transformers' TopKLogitsWarper: drop logits below the k-th largest."""
  kth_Bx1 = -np.sort(-scores_BxV, axis=-1)[..., top_k - 1:top_k]
  return np.where(scores_BxV < kth_Bx1, -np.inf, scores_BxV)


@pytest.mark.parametrize('p, kept', [(0.5, [0]), (0.8, [0, 1]),
                                     (0.81, [0, 1, 2]), (0.96, [0, 1, 2, 3]),
                                     (1e-6, [0])])
def test_top_p_keeps_smallest_set_reaching_p(p, kept):
  # Shuffled so the kept set is not simply a prefix of the vocabulary.
  perm = np.array([2, 0, 3, 1])
  logits_1xV = _logits(PROBS[perm])
  assert _kept(sampling.filter_top_p(logits_1xV, p)) == [sorted(
      np.flatnonzero(np.isin(perm, kept)).tolist())]


def test_top_p_one_is_unchanged_and_values_are_kept():
  logits_1xV = _logits(PROBS)
  np.testing.assert_array_equal(sampling.filter_top_p(logits_1xV, 1.0),
                                logits_1xV)
  out_1xV = sampling.filter_top_p(logits_1xV, 0.8)
  np.testing.assert_array_equal(out_1xV[0, :2], logits_1xV[0, :2])


@pytest.mark.parametrize('k, kept', [(1, [1]), (2, [1, 3]), (3, [0, 1, 3])])
def test_top_k_keeps_k_largest(k, kept):
  logits_1xV = jnp.array([[0.5, 3.0, -1.0, 2.0]])
  assert _kept(sampling.filter_top_k(logits_1xV, k)) == [kept]


@pytest.mark.parametrize('k', [0, -1, 4, 10])
def test_top_k_out_of_range_is_unchanged(k):
  logits_1xV = jnp.array([[0.5, 3.0, -1.0, 2.0]])
  assert sampling.filter_top_k(logits_1xV, k) is logits_1xV


def test_ties_at_the_boundary_are_all_kept():
  logits_1xV = jnp.array([[1.0, 3.0, 3.0, 2.0, 3.0]])
  assert _kept(sampling.filter_top_k(logits_1xV, 1)) == [[1, 2, 4]]
  assert _kept(sampling.filter_top_k(logits_1xV, 2)) == [[1, 2, 4]]
  assert _kept(sampling.filter_top_k(logits_1xV, 4)) == [[1, 2, 3, 4]]
  # Probabilities 0.4, 0.2, 0.2, 0.2: 0.5 is reached at the first 0.2, and
  # its ties come along.
  logits_1xV = _logits([0.2, 0.4, 0.2, 0.2])
  assert _kept(sampling.filter_top_p(logits_1xV, 0.5)) == [[0, 1, 2, 3]]
  assert _kept(sampling.filter_top_p(logits_1xV, 0.3)) == [[1]]


def test_top_p_after_top_k_sees_remaining_mass():
  # After top-k=2 the two left hold 0.5/0.8 and 0.3/0.8: p=0.6 keeps one
  # (0.625 >= 0.6), p=0.7 keeps both.
  logits_1xV = sampling.filter_top_k(_logits(PROBS), 2)
  assert _kept(sampling.filter_top_p(logits_1xV, 0.6)) == [[0]]
  assert _kept(sampling.filter_top_p(logits_1xV, 0.7)) == [[0, 1]]


def test_filters_match_reference_on_random_logits():
  logits_BxV = np.random.default_rng(0).normal(
      size=(16, 50)).astype(np.float32) * 2
  for p in (0.1, 0.5, 0.9, 0.99):
    np.testing.assert_array_equal(
        sampling.filter_top_p(jnp.asarray(logits_BxV), p),
        _reference_top_p(logits_BxV, p))
  for k in (1, 5, 49):
    np.testing.assert_array_equal(
        sampling.filter_top_k(jnp.asarray(logits_BxV), k),
        _reference_top_k(logits_BxV, k))


def test_filters_match_transformers():
  torch = pytest.importorskip('torch')
  generation = pytest.importorskip('transformers.generation')
  logits_BxV = np.random.default_rng(1).normal(
      size=(16, 50)).astype(np.float32) * 2
  scores = torch.from_numpy(logits_BxV)
  input_ids = torch.zeros((16, 1), dtype=torch.long)
  for p in (0.1, 0.5, 0.9, 0.99):
    expected = generation.TopPLogitsWarper(p)(input_ids, scores.clone())
    np.testing.assert_array_equal(
        sampling.filter_top_p(jnp.asarray(logits_BxV), p), expected.numpy())
  for k in (1, 5, 49):
    expected = generation.TopKLogitsWarper(k)(input_ids, scores.clone())
    np.testing.assert_array_equal(
        sampling.filter_top_k(jnp.asarray(logits_BxV), k), expected.numpy())


def test_greedy_is_argmax_and_ignores_rng():
  logits_BxV = jax.random.normal(jax.random.PRNGKey(0), (8, 30))
  expected_B = np.argmax(np.asarray(logits_BxV), axis=-1)
  for rng in (jax.random.PRNGKey(1), jax.random.PRNGKey(2), None):
    ids_B = sampling.next_token(logits_BxV, rng, temperature=0.0, top_k=3,
                                top_p=0.5)
    assert ids_B.dtype == jnp.int32
    np.testing.assert_array_equal(ids_B, expected_B)
  ids_B = sampling.next_token(logits_BxV.astype(jnp.bfloat16), None,
                              temperature=0.0, top_k=0, top_p=1.0)
  assert ids_B.dtype == jnp.int32 and ids_B.shape == (8,)


def _sample(logits_1xV, num, rng, **settings):
  """`num` draws from one row, made as one batch of identical rows."""
  logits_NxV = jnp.broadcast_to(logits_1xV, (num, logits_1xV.shape[-1]))
  return np.asarray(sampling.next_token(logits_NxV, rng, **settings))


def test_sampling_is_seeded_and_stays_in_the_kept_set():
  logits_1xV = _logits([0.05, 0.3, 0.02, 0.5, 0.03, 0.1])
  settings = dict(temperature=1.0, top_k=3, top_p=0.75)
  ids = _sample(logits_1xV, 4000, jax.random.PRNGKey(3), **settings)
  again = _sample(logits_1xV, 4000, jax.random.PRNGKey(3), **settings)
  other = _sample(logits_1xV, 4000, jax.random.PRNGKey(4), **settings)
  np.testing.assert_array_equal(ids, again)
  assert not np.array_equal(ids, other)
  # top-k keeps 0.5, 0.3, 0.1 (renormalized 0.56, 0.33, 0.11); p=0.75 then
  # keeps the first two.
  assert set(ids.tolist()) == {1, 3}
  np.testing.assert_allclose(np.mean(ids == 3), 0.5 / 0.8, atol=0.03)
  # Without filters every token turns up.
  ids = _sample(logits_1xV, 4000, jax.random.PRNGKey(3), temperature=1.0,
                top_k=0, top_p=1.0)
  assert set(ids.tolist()) == set(range(6))


@pytest.mark.parametrize('temperature', [0.5, 1.0, 2.0])
def test_temperature_frequencies_match_tempered_softmax(temperature):
  logits_1xV = jnp.array([[2.0, 1.0, 0.0, -1.0]])
  num = 20000
  ids = _sample(logits_1xV, num, jax.random.PRNGKey(5),
                temperature=temperature, top_k=0, top_p=1.0)
  frequencies = np.bincount(ids, minlength=4) / num
  expected = np.asarray(jax.nn.softmax(logits_1xV[0] / temperature))
  # Binomial standard error is at most 0.0036 here; 0.015 is > 4 of them.
  np.testing.assert_allclose(frequencies, expected, atol=0.015)


def test_jit_with_mixed_rows():
  # A peaked row, a flat row, a row with ties and a random row.
  logits_BxV = jnp.stack([
      jnp.log(jnp.array([0.9, 0.05, 0.03, 0.01, 0.01])),
      jnp.zeros(5),
      jnp.array([1.0, 3.0, 3.0, 2.0, 3.0]),
      jax.random.normal(jax.random.PRNGKey(6), (5,)),
  ])
  for k in (0, 2):
    np.testing.assert_array_equal(
        jax.jit(sampling.filter_top_k, static_argnums=1)(logits_BxV, k),
        jnp.concatenate([sampling.filter_top_k(row[None], k)
                         for row in logits_BxV]))
  for p in (0.3, 0.9, 1.0):
    rowwise_BxV = jnp.concatenate([sampling.filter_top_p(row[None], p)
                                   for row in logits_BxV])
    np.testing.assert_array_equal(
        jax.jit(sampling.filter_top_p, static_argnums=1)(logits_BxV, p),
        rowwise_BxV)
    # p traced: one compiled function for every p.
    np.testing.assert_array_equal(
        jax.jit(sampling.filter_top_p)(logits_BxV, jnp.float32(p)),
        rowwise_BxV)

  step = jax.jit(sampling.next_token,
                 static_argnames=('temperature', 'top_k', 'top_p'))
  rng = jax.random.PRNGKey(7)
  ids_B = step(logits_BxV, rng, temperature=0.0, top_k=0, top_p=1.0)
  np.testing.assert_array_equal(ids_B, jnp.argmax(logits_BxV, axis=-1))
  settings = dict(temperature=0.7, top_k=2, top_p=0.9)
  ids_B = step(logits_BxV, rng, **settings)
  assert ids_B.dtype == jnp.int32 and ids_B.shape == (4,)
  np.testing.assert_array_equal(
      ids_B, sampling.next_token(logits_BxV, rng, **settings))
  # Each row's draw is among the tokens its own filters keep.
  kept = _kept(sampling.filter_top_p(
      sampling.filter_top_k(logits_BxV / 0.7, 2), 0.9))
  for _ in range(20):
    rng, key = jax.random.split(rng)
    for token, row_kept in zip(step(logits_BxV, key, **settings).tolist(),
                               kept):
      assert token in row_kept
  assert kept[0] == [0] and kept[2] == [1, 2, 4]


def test_traced_p_of_one_leaves_logits_alone():
  # Mass above the last tokens rounds up to 1 in float32; p = 1 still keeps
  # them.
  logits_1xV = jnp.array([[30.0, 0.0, -5.0]])
  out_1xV = jax.jit(sampling.filter_top_p)(logits_1xV, jnp.float32(1.0))
  np.testing.assert_array_equal(out_1xV, logits_1xV)


@pytest.mark.parametrize('settings, flag', [
    ((-0.1, 0, 1.0), '--temperature'),
    ((float('nan'), 0, 1.0), '--temperature'),
    ((1.0, -1, 1.0), '--top_k'),
    ((1.0, 2.5, 1.0), '--top_k'),
    ((1.0, 0, 0.0), '--top_p'),
    ((1.0, 0, 1.5), '--top_p'),
    ((1.0, 0, -0.2), '--top_p'),
])
def test_check_settings_rejects(settings, flag):
  with pytest.raises(InputError) as e:
    sampling.check_settings(*settings)
  assert_one_line(e, flag, str(settings[['--temperature', '--top_k',
                                        '--top_p'].index(flag)]))


def test_check_settings_accepts():
  sampling.check_settings(0.0, 0, 1.0)
  sampling.check_settings(0.8, 40, 0.95)
  sampling.check_settings(1, 1, 1e-3)
