"""lm_jax/training.py: the built step learns, and shapes/shardings agree."""
import jax
import numpy as np

from data_pipelines import synthetic
from lm_jax import sharding, training
from lm_jax.objectives import get_objective


def test_step_overfits_one_batch(micro_config):
  """On one fixed batch the generator and the discriminator both learn far
  beyond chance: the whole loss, gradient and update path is wired right."""
  micro_config.model.dropout_rate = micro_config.model.attention_dropout_rate = 0.0
  micro_config.optim.learning_rate, micro_config.optim.warmup_steps = 1e-3, 10
  micro_config.train.num_steps = 150
  mesh = sharding.make_mesh(micro_config.mesh, devices=jax.devices()[:1])
  rules = sharding.rules(micro_config.mesh)
  with sharding.use(mesh, rules):
    parts = training.build(micro_config, get_objective('electra'), 300, mesh, rules)
    state = parts.init(jax.random.key(0), {})
    batch = sharding.global_batch(
        synthetic.electra_batch(16, 32, 300, seed=1), parts.batch_sharding)
    history = []
    for _ in range(150):
      state, metrics = parts.step(state, batch, {})
      history.append(metrics)
  first, last = jax.device_get(history[0]), jax.device_get(history[-1])
  assert int(state.step) == 150
  assert abs(first['mlm_loss'] - np.log(300)) < 0.5  # fresh: uniform guess
  assert last['mlm_loss'] < first['mlm_loss'] - 1.0
  assert last['disc_accuracy'] > 1 - last['replaced_fraction'] + 0.05  # beats "all real"
  assert last['disc_loss'] < 0.6 * first['disc_loss']


def test_state_layout_follows_the_rules(micro_config):
  micro_config.mesh.data, micro_config.mesh.fsdp, micro_config.mesh.tensor = 2, 2, 2
  mesh = sharding.make_mesh(micro_config.mesh)
  rules = sharding.rules(micro_config.mesh)
  with sharding.use(mesh, rules):
    parts = training.build(micro_config, get_objective('electra'), 1000, mesh, rules)
  params = parts.state_shardings.params
  query = params['discriminator']['layers']['attention']['query']['kernel']
  assert query.spec == jax.P(None, 'fsdp', 'tensor', None)  # layers, embed, heads, kv
  table = params['embeddings']['word_embeddings']['embedding']
  assert table.spec == jax.P('tensor', 'fsdp')  # vocab, embed
  mu = parts.state_shardings.opt_state[1].mu
  assert mu['embeddings']['word_embeddings']['embedding'].spec == table.spec
  # The 1-head generator's heads can't split over tensor=2: replicated, reported.
  gen_query = params['generator']['layers']['attention']['query']['kernel']
  assert gen_query.spec == jax.P(None, 'fsdp', None, None)
  assert any('generator/layers/attention/query/kernel' in n
             for n in parts.replicated_dims)
  assert parts.batch_sharding.spec == jax.P(('data', 'fsdp'))
