"""lm_jax/optim.py: Adam without bias correction, decay mask and schedules."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from lm_jax import optim
from lm_jax.errors import InputError


def optim_cfg(**overrides):
  c = dict(learning_rate=1.0, schedule='linear', warmup_steps=10,
           decay_power=1.0, b1=0.9, b2=0.999, eps=1e-6, bias_correction=False,
           weight_decay=0.0, clip_norm=0.0, warmup='multiply',
           decay_all_params=False, trust_ratio=False, layer_decay=1.0,
           min_lr_fraction=0.0)
  c.update(overrides)
  return ml_collections.ConfigDict(c)


def test_bert_optimizer_test_vector():
  """BERT's optimization_test: lr 0.2, no decay, 100 steps reach the target."""
  tx = optim.scale_by_adam_without_bias_correction(0.9, 0.999, 1e-6)
  tx = optax.chain(tx, optax.scale(-0.2))
  w = jnp.array([0.1, -0.2, -0.1])
  target = jnp.array([0.4, 0.2, -0.5])
  state = tx.init(w)
  for _ in range(100):
    grads = jax.grad(lambda w: jnp.mean((target - w) ** 2))(w)
    updates, state = tx.update(grads, state)
    w = w + updates
  np.testing.assert_allclose(w, target, atol=1e-2)


def test_first_step_differs_from_bias_corrected_adam():
  """Without bias correction the first update is (1-b1)/sqrt(1-b2) ~ 3.16x
  the corrected one's sign step."""
  g = jnp.array([0.5])
  ours, _ = optim.scale_by_adam_without_bias_correction(0.9, 0.999, 1e-6).update(
      g, optim.scale_by_adam_without_bias_correction(0.9, 0.999, 1e-6).init(g))
  np.testing.assert_allclose(ours, 0.1 / np.sqrt(0.001), rtol=1e-3)


def test_electra_schedule_multiplies_warmup_into_decay():
  lr = optim.learning_rate_schedule(optim_cfg(), num_steps=100)
  np.testing.assert_allclose(lr(0), 0.0)
  np.testing.assert_allclose(lr(5), 0.5 * (1 - 0.05), rtol=1e-6)
  np.testing.assert_allclose(lr(10), 0.9, rtol=1e-6)
  np.testing.assert_allclose(lr(55), 0.45, rtol=1e-6)
  np.testing.assert_allclose(lr(100), 0.0, atol=1e-7)
  np.testing.assert_allclose(lr(150), 0.0, atol=1e-7)  # clamped past the end


def test_polynomial_and_cosine():
  poly = optim.learning_rate_schedule(optim_cfg(schedule='polynomial',
                                                decay_power=2.0, warmup_steps=0), 100)
  np.testing.assert_allclose(poly(50), 0.25, rtol=1e-6)
  cos = optim.learning_rate_schedule(optim_cfg(schedule='cosine', warmup_steps=0), 100)
  np.testing.assert_allclose(cos(50), 0.5, rtol=1e-6)
  with pytest.raises(InputError, match='schedule'):
    optim.learning_rate_schedule(optim_cfg(schedule='step'), 100)


def test_weight_decay_skips_layer_norm_and_biases():
  params = {
      'embeddings': {'word_embeddings': {'embedding': 1.0},
                     'layer_norm': {'scale': 1.0, 'bias': 1.0}},
      'layers': {'intermediate': {'kernel': 1.0, 'bias': 1.0},
                 'attention_layer_norm': {'scale': 1.0}},
      'generator_head': {'output_bias': 1.0},
  }
  mask = optim.weight_decay_mask(params)
  assert mask['embeddings']['word_embeddings']['embedding']
  assert mask['layers']['intermediate']['kernel']
  assert not mask['embeddings']['layer_norm']['scale']
  assert not mask['embeddings']['layer_norm']['bias']
  assert not mask['layers']['intermediate']['bias']
  assert not mask['layers']['attention_layer_norm']['scale']
  assert not mask['generator_head']['output_bias']


def test_decoupled_weight_decay_and_clipping():
  """update = -lr * (adam(clip(g)) + wd * w) on decayed params only."""
  tx, _ = optim.make_optimizer(
      optim_cfg(weight_decay=0.1, clip_norm=1.0, warmup_steps=0), num_steps=10)
  params = {'dense': {'kernel': jnp.array([2.0]), 'bias': jnp.array([2.0])}}
  grads = {'dense': {'kernel': jnp.array([300.0]), 'bias': jnp.array([400.0])}}
  updates, _ = tx.update(grads, tx.init(params), params)
  adam = lambda g: 0.1 * g / (np.sqrt(0.001 * g * g) + 1e-6)
  clipped = np.array([300.0, 400.0]) / 500.0
  np.testing.assert_allclose(updates['dense']['kernel'], -(adam(clipped[0]) + 0.2), rtol=1e-4)
  np.testing.assert_allclose(updates['dense']['bias'], -adam(clipped[1]), rtol=1e-4)


def test_bert_warmup_replaces_the_decay():
  """§3.2: base * t / W while t < W, then base * (1 - t / T)."""
  lr = optim.learning_rate_schedule(optim_cfg(warmup='replace'), num_steps=100)
  np.testing.assert_allclose([float(lr(t)) for t in (0, 5, 9, 10, 50, 100)],
                             [0.0, 0.5, 0.9, 0.9, 0.5, 0.0], atol=1e-6)
  with pytest.raises(InputError, match='optim.warmup'):
    optim.learning_rate_schedule(optim_cfg(warmup='late'), 100)


def test_lamb_trust_ratio_scales_each_decaying_tensor():
  """With trust_ratio, a decaying tensor's step has norm lr * ||w|| (the
  Adam direction rescaled); a LayerNorm scale keeps the plain Adam step."""
  params = {'dense': {'kernel': jnp.full((4,), 3.0)},
            'layer_norm': {'scale': jnp.full((4,), 3.0)}}
  grads = jax.tree.map(jnp.ones_like, params)
  tx, _ = optim.make_optimizer(
      optim_cfg(trust_ratio=True, warmup_steps=0, learning_rate=0.1), 10)
  updates, _ = tx.update(grads, tx.init(params), params)
  np.testing.assert_allclose(jnp.linalg.norm(updates['dense']['kernel']),
                             0.1 * jnp.linalg.norm(params['dense']['kernel']),
                             rtol=1e-5)
  plain = 0.1 * 0.1 / (np.sqrt(0.001) + 1e-6)  # lr * (1-b1) g / sqrt((1-b2) g^2)
  np.testing.assert_allclose(updates['layer_norm']['scale'], -plain, rtol=1e-4)


def test_decay_all_params_reaches_layer_norms_and_biases():
  params = {'layer_norm': {'scale': jnp.ones((2,))}, 'dense': {'bias': jnp.ones((2,))}}
  zero = jax.tree.map(jnp.zeros_like, params)
  for decay_all, moved in ((False, False), (True, True)):
    tx, _ = optim.make_optimizer(optim_cfg(weight_decay=0.5, warmup_steps=0,
                                           decay_all_params=decay_all), 10)
    updates, _ = tx.update(zero, tx.init(params), params)
    assert all((jnp.abs(u) > 0).all() == moved for u in jax.tree.leaves(updates))


def test_layer_decay_scales_each_layer_as_electra():
  """ELECTRA's _get_layer_lrs: lr * decay^(L + 1 - depth); embeddings at
  depth 0, scanned layer i at i + 1, heads at L + 1."""
  params = {'embeddings': {'word': jnp.ones((4, 2))},
            'encoder': {'embeddings_project': {'kernel': jnp.ones((2, 2))},
                        'layers': {'kernel': jnp.ones((3, 2, 2))}},
            'head': {'kernel': jnp.ones((2, 1))}}
  grads = jax.tree.map(jnp.ones_like, params)
  tx, _ = optim.make_optimizer(optim_cfg(warmup_steps=0, layer_decay=0.5),
                               num_steps=100, num_layers=3)
  updates, _ = tx.update(grads, tx.init(params), params)
  # Adam's first update is g / (|g| + eps) * (1 - b1) / sqrt(1 - b2) ~ 3.162
  # without bias correction; only the ratios matter here.
  unit = -updates['head']['kernel'][0, 0]
  np.testing.assert_allclose(-updates['embeddings']['word'] / unit, 0.5 ** 4,
                             rtol=1e-6)
  np.testing.assert_allclose(
      -updates['encoder']['embeddings_project']['kernel'] / unit, 0.5 ** 4,
      rtol=1e-6)
  per_layer = -updates['encoder']['layers']['kernel'][:, 0, 0] / unit
  np.testing.assert_allclose(per_layer, [0.5 ** 3, 0.5 ** 2, 0.5], rtol=1e-6)


def test_layer_decay_of_shared_albert_groups():
  # 4 layers over 2 groups: group 0 serves layers 0-1, group 1 layers 2-3.
  assert optim.layer_depth(['encoder', 'attention_0', 'kernel'], 4, 2) == 2
  assert optim.layer_depth(['encoder', 'ffn_1', 'kernel'], 4, 2) == 4
  assert optim.layer_depth(['pooler', 'kernel'], 4, 2) == 5


def test_decay_ends_at_min_lr_fraction():
  """GPT-3's cosine decay to 10% of the peak."""
  lr = optim.learning_rate_schedule(
      optim_cfg(schedule='cosine', warmup_steps=0, min_lr_fraction=0.1), 100)
  assert float(lr(0)) == pytest.approx(1.0)
  assert float(lr(50)) == pytest.approx(0.55)
  assert float(lr(100)) == pytest.approx(0.1)
