"""How generation picks the next token from a batch of logits.

Greedy decoding, temperature, top-k and nucleus (top-p) sampling as pure JAX
functions, so a jitted, batched decoding loop (with a KV cache) can call them
inside its step. The rules follow Hugging Face transformers' logits warpers
(`TemperatureLogitsWarper`, `TopKLogitsWarper`, `TopPLogitsWarper`) and their
order (temperature, then top-k, then top-p), so settings mean the same thing
here as in models users know.

Filters return logits with the dropped tokens set to -inf rather than
renormalized probabilities: `jax.random.categorical` normalizes anyway, and
filters compose (top-p sees the distribution that top-k left).

Ties: both filters keep every token whose logit equals the smallest kept
logit, so the kept set never depends on how a sort orders equal values. For
top-k this is exactly transformers' rule (it keeps every logit >= the k-th
largest value); for top-p transformers keeps whichever of the tied tokens its
sort places first, so the two can differ only when the boundary is tied.
"""
import jax
import jax.numpy as jnp

from lm_jax.errors import InputError


def check_settings(temperature: float, top_k: int, top_p: float) -> None:
  """Raises InputError (one line naming the flag) for unusable settings.

  Args:
    temperature: 0 means greedy decoding; must be >= 0.
    top_k: 0 means no top-k filtering; must be a non-negative integer.
    top_p: 1 means no nucleus filtering; must be in (0, 1].
  """
  # Written as `not ... >=` so that NaN is rejected too.
  if not temperature >= 0:
    raise InputError(f'--temperature must be >= 0 (0 is greedy), got '
                     f'{temperature}')
  if isinstance(top_k, bool) or int(top_k) != top_k or top_k < 0:
    raise InputError(f'--top_k must be an integer >= 0 (0 disables it), got '
                     f'{top_k}')
  if not 0 < top_p <= 1:
    raise InputError(f'--top_p must be in (0, 1] (1 disables it), got {top_p}')


def filter_top_k(logits_BxV: jax.Array, k: int) -> jax.Array:
  """Sets logits outside each row's k largest to -inf.

  Args:
    logits_BxV: logits, any float dtype.
    k: how many tokens to keep per row (static). k <= 0 or k >= V returns
      the logits unchanged.

  Returns:
    Logits of the same shape and dtype. Every logit >= the row's k-th largest
    value is kept, so ties at the k-th value keep more than k tokens (as
    transformers' TopKLogitsWarper does).
  """
  vocab_size = logits_BxV.shape[-1]
  if k <= 0 or k >= vocab_size:
    return logits_BxV
  kth_largest_Bx1 = jax.lax.top_k(logits_BxV, k)[0][..., -1:]
  return jnp.where(logits_BxV >= kth_largest_Bx1, logits_BxV, -jnp.inf)


def filter_top_p(logits_BxV: jax.Array, p) -> jax.Array:
  """Nucleus filtering: keeps the smallest top set holding probability >= p.

  Tokens are taken in descending order of probability until their
  cumulative probability reaches p; the rest are set to -inf. The top token
  is always kept. This is transformers' TopPLogitsWarper: it drops a token
  when the probability of the tokens ranked above it already reaches p.

  Args:
    logits_BxV: logits, any float dtype; -inf entries (from an earlier
      filter) have probability 0 and stay -inf.
    p: the probability mass to keep, a Python float (static) or a traced
      scalar. p >= 1 returns the logits unchanged.

  Returns:
    Logits of the same shape and dtype. Ties with the smallest kept logit are
    all kept.
  """
  if isinstance(p, (int, float)) and p >= 1:
    return logits_BxV
  # Descending order; softmax commutes with the permutation, so the sorted
  # probabilities are the softmax of the sorted logits.
  sorted_BxV = -jnp.sort(-logits_BxV, axis=-1)
  probs_BxV = jax.nn.softmax(sorted_BxV.astype(jnp.float32), axis=-1)
  # Mass ranked strictly above each token; a token is kept while that mass
  # is still short of p. It is nondecreasing, so the kept set is a prefix.
  mass_above_BxV = jnp.cumsum(probs_BxV, axis=-1) - probs_BxV
  num_kept_B = jnp.sum(mass_above_BxV < p, axis=-1)
  num_kept_B = jnp.maximum(num_kept_B, 1)  # At least the top token.
  # Compare against the smallest kept logit instead of scattering a mask back
  # through the sort permutation: cheaper, and ties are handled the same way
  # as in filter_top_k.
  threshold_Bx1 = jnp.take_along_axis(sorted_BxV, num_kept_B[..., None] - 1,
                                      axis=-1)
  filtered_BxV = jnp.where(logits_BxV >= threshold_Bx1, logits_BxV, -jnp.inf)
  if isinstance(p, (int, float)):
    return filtered_BxV
  # A traced p >= 1 must also leave the logits alone (rounding can make the
  # cumulative sum reach 1 before the last, tiny-probability tokens).
  return jnp.where(p >= 1, logits_BxV, filtered_BxV)


def next_token(logits_BxV: jax.Array, rng: jax.Array, *, temperature: float,
               top_k: int, top_p: float) -> jax.Array:
  """Picks each row's next token id.

  Args:
    logits_BxV: the last position's logits; cast to float32 first, so
      bfloat16 model outputs are scaled and normalized in full precision.
    rng: a PRNG key; unused when temperature == 0.
    temperature: 0 for greedy argmax; otherwise logits are divided by it
      before filtering. Static (a Python float), as are top_k and top_p.
    top_k: keep only the k most likely tokens; 0 disables it.
    top_p: nucleus probability; 1 disables it.

  Returns:
    ids_B, int32.
  """
  logits_BxV = logits_BxV.astype(jnp.float32)
  if temperature == 0:
    # Greedy ignores the filters too: the argmax survives every one of them.
    return jnp.argmax(logits_BxV, axis=-1).astype(jnp.int32)
  # transformers' order: temperature, then top-k, then top-p, so top-p's
  # cumulative mass is measured on the tempered, top-k-filtered distribution.
  logits_BxV = logits_BxV / temperature
  logits_BxV = filter_top_k(logits_BxV, top_k)
  logits_BxV = filter_top_p(logits_BxV, top_p)
  return jax.random.categorical(rng, logits_BxV, axis=-1).astype(jnp.int32)
