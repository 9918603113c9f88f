"""Weighted means as (Σ weight·value, Σ weight) pairs.

Every objective states its heads' losses and accuracies this way: training
divides each pair at once, held-out evaluation adds the pairs up over a whole
set first, so both mean the same thing.
"""
import jax.numpy as jnp
import optax


def weighted(values, weights):
  """(Σ w·v, Σ w)."""
  return jnp.sum(weights * values), jnp.sum(weights)


def prediction_sums(head: str, logits_BxNxV, targets_BxN, weights_BxN) -> dict:
  """`{head}_loss` (cross entropy) and `{head}_accuracy` (argmax) over the
  weighted predictions; plain `loss` and `accuracy` when head is ''."""
  prefix = f'{head}_' if head else ''
  nll_BxN = optax.softmax_cross_entropy_with_integer_labels(logits_BxNxV,
                                                            targets_BxN)
  return {f'{prefix}loss': weighted(nll_BxN, weights_BxN),
          f'{prefix}accuracy': weighted(
              jnp.argmax(logits_BxNxV, -1) == targets_BxN, weights_BxN)}


def means(sums: dict, eps: float) -> dict:
  """Each pair divided, with `eps` guarding an empty denominator."""
  return {k: num / (den + eps) for k, (num, den) in sums.items()}
