"""lm_jax/objectives/mlm.py: the BERT-family losses (§1.2, §1.6, §1.7), the
refused combinations, and a step that learns on synthetic batches."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lm_jax import sharding, training
from lm_jax.errors import InputError
from lm_jax.objectives import get_objective, mlm
from tests.conftest import load_named_config


def tiny(name='bert_base', **objective):
  c = load_named_config(name, 'tiny')
  c.model.hidden_size, c.model.num_heads = 32, 2
  c.model.intermediate_size, c.model.embedding_size = 64, 16
  c.data.vocab_size, c.data.seq_len, c.data.batch_size = 200, 32, 8
  for key, value in objective.items():
    c.objective[key] = value
  return c


@pytest.mark.parametrize('name', ['bert_base', 'spanbert_base', 'albert_base'])
def test_loss_is_the_sum_of_weighted_head_means(name):
  config = tiny(name)
  model = mlm.build_model(config, 200, deterministic=True)
  batch = jax.tree.map(jnp.asarray, mlm.make_synthetic_batch(config, 4, seed=3))
  params = nn.unbox(model.init(jax.random.key(0), *mlm.init_inputs(config)))['params']
  total, metrics = mlm.loss(model, params, batch, None, config.objective)

  h = model.apply({'params': params}, batch['masked_input_ids'],
                  batch['segment_ids'], batch['input_mask'], method=model.encode)
  logits = model.apply({'params': params}, h, batch['masked_lm_positions'],
                       method=model.mlm_logits)
  w = batch['masked_lm_weights']
  nll = optax.softmax_cross_entropy_with_integer_labels(logits, batch['masked_lm_ids'])
  expected = jnp.sum(w * nll) / (jnp.sum(w) + 1e-5)
  np.testing.assert_allclose(metrics['mlm_loss'], expected, rtol=1e-5)
  task = config.objective.sentence_task
  if task != 'none':
    sentence = model.apply({'params': params}, h, method=model.sentence_logits)
    ce = optax.softmax_cross_entropy_with_integer_labels(
        sentence, batch['sentence_label']).mean()
    np.testing.assert_allclose(metrics[f'{task}_loss'], ce, rtol=1e-4)
    expected = expected + ce
  if config.objective.sbo_weight:
    assert batch['sbo_weights'].sum() > 0
    expected = expected + config.objective.sbo_weight * metrics['sbo_loss']
  np.testing.assert_allclose(total, expected, rtol=1e-5)
  assert abs(float(metrics['mlm_loss']) - np.log(200)) < 0.6  # fresh: uniform


@pytest.mark.parametrize('changes, message', [
    (dict(examples='blocks'), 'sentence_task=nsp needs sentence pairs'),
    (dict(examples='segments', sentence_task='sop'), 'sentence_task=sop needs'),
    (dict(masking='span', span_upper=40), 'span_upper 40 is longer than the 30'),
    (dict(sbo_weight=1.0), 'sbo_weight > 0 needs objective.masking=span'),
    (dict(masking='random'), 'objective.masking must be one of'),
])
def test_wrong_combinations_are_refused(changes, message):
  with pytest.raises(InputError, match=message):
    mlm.check(tiny(**changes))


def test_electra_refuses_random_tokens():
  config = load_named_config('electra_small', 'tiny')
  config.objective.random_token_prob = 0.1
  with pytest.raises(InputError, match='no random-token replacement'):
    get_objective('electra').check(config)


@pytest.mark.parametrize('name', ['bert_base', 'spanbert_base'])
def test_step_overfits_one_batch(name):
  config = tiny(name)
  config.model.dropout_rate = config.model.attention_dropout_rate = 0.0
  config.optim.learning_rate, config.optim.warmup_steps = 3e-3, 5
  config.train.num_steps = 80
  mesh = sharding.make_mesh(config.mesh, devices=jax.devices()[:1])
  rules = sharding.rules(config.mesh)
  with sharding.use(mesh, rules):
    parts = training.build(config, get_objective('mlm'), 200, mesh, rules)
    state = parts.init(jax.random.key(0), {})
    batch = sharding.global_batch(mlm.make_synthetic_batch(config, 8, seed=1),
                                  parts.batch_sharding)
    history = []
    for _ in range(80):
      state, metrics = parts.step(state, batch, {})
      history.append(metrics)
    first, last = jax.device_get(history[0]), jax.device_get(history[-1])
  assert last['mlm_loss'] < first['mlm_loss'] - 2.0
  assert last['mlm_accuracy'] > 0.5
  if name == 'bert_base':
    assert last['nsp_accuracy'] > 0.99
  else:
    assert last['sbo_loss'] < first['sbo_loss'] - 2.0
