"""lm_jax/objectives/electra.py: the replaced-token-detection loss (§1.9)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lm_jax.objectives import electra
from tests.test_electra_model import tiny_model


def objective_cfg(**overrides):
  c = dict(generator_weight=1.0, discriminator_weight=50.0, temperature=1.0)
  c.update(overrides)
  return ml_collections.ConfigDict(c)


def test_label_is_replaced_and_different():
  ids = jnp.array([[2, 10, 11, 12, 13, 3, 0, 0]])
  mask = (ids > 0).astype(jnp.int32)
  positions = jnp.array([[1, 2, 4, 0]])
  weights = jnp.array([[1.0, 1.0, 1.0, 0.0]])
  sampled = jnp.array([[10, 20, 21, 99]])  # the first sample is the original
  fake, labels = electra.replace_tokens(ids, mask, positions, weights, sampled)
  np.testing.assert_array_equal(fake, [[2, 10, 20, 12, 21, 3, 0, 0]])
  # Unused slot (weight 0) pointing at position 0 changes nothing.
  np.testing.assert_array_equal(labels, [[0, 0, 1, 0, 1, 0, 0, 0]])


def batch_for(ids):
  ids = jnp.asarray(ids)
  masked = ids.at[:, 2].set(4)
  return dict(input_ids=ids, segment_ids=jnp.zeros_like(ids),
              input_mask=(ids > 0).astype(jnp.int32), masked_input_ids=masked,
              masked_lm_positions=jnp.array([[2, 3], [2, 0]]),
              masked_lm_ids=ids[:, jnp.array([2, 3])] * jnp.array([[1, 1], [1, 0]]),
              masked_lm_weights=jnp.array([[1.0, 1.0], [1.0, 0.0]]))


def setup():
  model = tiny_model(deterministic=False)
  batch = batch_for([[2, 7, 8, 9, 3, 0], [2, 11, 12, 3, 0, 0]])
  params = nn.unbox(model.init(jax.random.key(0), batch['input_ids'],
                               batch['segment_ids'], batch['input_mask'],
                               batch['masked_lm_positions'])['params'])
  return model, params, batch


def test_discriminator_loss_never_reaches_the_generator():
  """Sampling is under stop_gradient: with generator_weight 0 the generator's
  own parameters get no gradient; the shared embeddings still do."""
  model, params, batch = setup()
  grads = jax.jit(jax.grad(lambda p: electra.loss(
      model, p, batch, jax.random.key(1), objective_cfg(generator_weight=0.0))[0]))(params)
  norm = lambda t: float(sum(jnp.abs(x).sum() for x in jax.tree.leaves(t)))
  assert norm(grads['generator']) == 0 and norm(grads['generator_head']) == 0
  assert norm(grads['discriminator']) > 0 and norm(grads['embeddings']) > 0


def test_total_is_weighted_sum_and_fresh_losses_are_sane():
  model, params, batch = setup()
  total, m = jax.jit(lambda p: electra.loss(
      model, p, batch, jax.random.key(1), objective_cfg()))(params)
  np.testing.assert_allclose(total, m['mlm_loss'] + 50.0 * m['disc_loss'], rtol=1e-6)
  # A fresh generator is near-uniform over V=50; a fresh discriminator near ln 2.
  assert abs(float(m['mlm_loss']) - np.log(50)) < 1.0
  assert 0.3 < float(m['disc_loss']) < 1.5
  assert 0 <= float(m['replaced_fraction']) <= 3 / 8


def test_same_rng_same_loss():
  model, params, batch = setup()
  run = jax.jit(lambda seed: electra.loss(
      model, params, batch, jax.random.key(seed), objective_cfg())[0])
  assert float(run(3)) == float(run(3))
  assert float(run(3)) != float(run(4))
