"""lm_jax/objectives/causal_lm.py and the GPT configs end to end: the
shifted targets, the packed corpus through the tf.data pipeline, `:tiny`
runs that learn, byte-level BPE trained on first use, resumable workdirs,
and refusals."""
import json
import os

import jax.numpy as jnp
import numpy as np
import pytest

from conftest import TINY_STEPS, assert_one_line, load_named_config
from data_pipelines import pipeline
from lm_jax import trainer
from lm_jax.errors import InputError
from lm_jax.objectives import causal_lm, get_objective

quiet = lambda line: None


def rows(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def test_targets_are_the_inputs_shifted_left():
  ids = jnp.array([[5, 6, 7, 8], [9, 10, 11, 12]])
  mask = jnp.array([[1, 1, 1, 1], [0, 1, 1, 1]])  # a left-padded row
  targets, weights = causal_lm.next_token_targets(ids, mask)
  np.testing.assert_array_equal(targets, [[6, 7, 8], [10, 11, 12]])
  # The pad predicts nothing and is never a target.
  np.testing.assert_array_equal(weights, [[1, 1, 1], [0, 1, 1]])


def test_the_loss_is_the_mean_nll_of_the_next_token():
  config = load_named_config('gpt2_small', 'tiny')
  model = causal_lm.build_model(config, 50, deterministic=True)
  ids = jnp.asarray(np.random.default_rng(0).integers(0, 50, (2, 9)), jnp.int32)
  batch = {'input_ids': ids, 'input_mask': jnp.ones_like(ids)}
  import jax  # pylint: disable=g-import-not-at-top
  params = model.init(jax.random.key(0), ids, jnp.ones_like(ids))['params']
  loss, _ = causal_lm.loss(model, params, batch, None, config.objective)
  logits = model.apply({'params': params}, ids, jnp.ones_like(ids))
  logp = jax.nn.log_softmax(logits[:, :-1], axis=-1)
  nll = -jnp.take_along_axis(logp, ids[:, 1:, None], axis=-1)
  np.testing.assert_allclose(loss, nll.mean(), rtol=1e-4)


def test_wrong_combinations_are_refused():
  config = load_named_config('gpt2_small', 'tiny')
  config.model.causal = False
  config.model.embedding_size = 32
  with pytest.raises(InputError) as e:
    get_objective('causal_lm').check(config)
  assert_one_line(e, 'model.causal=True', 'model.embedding_size (32)')


@pytest.mark.parametrize('name', ['gpt2_small', 'gpt1'])
def test_tiny_configs_learn_on_the_embedded_corpus(name, tiny_runs):
  """configs/<name>.py:tiny as shipped (byte-level BPE trained on first use):
  loss falls, perplexity and tokens/s are logged."""
  logged = rows(tiny_runs(name))
  assert [r['step'] for r in logged] == list(range(10, TINY_STEPS + 1, 10))
  early, late = logged[:2], logged[-2:]
  mean = lambda key, part: sum(r[key] for r in part) / len(part)
  assert mean('loss', late) < mean('loss', early) - 0.5
  for r in logged:
    assert r['perplexity'] == pytest.approx(np.exp(r['lm_loss']), rel=1e-4)
  assert 'tokens_per_second' in logged[-1]
  with open(os.path.join(tiny_runs(name), 'vocab',
                         os.listdir(os.path.join(tiny_runs(name), 'vocab'))[0]),
            encoding='utf-8') as f:
    assert '<|endoftext|>' in f.read()  # GPT-2's BPE, kept in the workdir


def test_packed_rows_through_the_pipeline(tmp_path):
  """The corpus as rows of seq_len tokens, every token real, one
  end-of-text after each document; batches a function of the step."""
  from data_pipelines import vocabulary  # pylint: disable=g-import-not-at-top
  config = load_named_config('gpt2_small', 'tiny')
  config.data.cache_dir = str(tmp_path)
  objective = get_objective('causal_lm')
  tokenizer, vocab_id, _ = vocabulary.load_or_build_tokenizer(config.data,
                                                              log=quiet)
  store = pipeline.build_or_load_examples(
      config.data, tokenizer, vocab_id,
      objective.make_example_builder(config, tokenizer),
      objective.examples_id(config), 0, 1, log=quiet)
  masker = objective.make_masker(config, tokenizer, store)
  first = next(pipeline.batches(store, batch_size=4, start_step=3, seed=0,
                                masker=masker))
  again = next(pipeline.batches(store, batch_size=4, start_step=3, seed=0,
                                masker=masker))
  assert set(first) == {'input_ids', 'input_mask'}
  assert first['input_ids'].shape == (4, 64)
  np.testing.assert_array_equal(first['input_mask'], 1)
  np.testing.assert_array_equal(first['input_ids'], again['input_ids'])
  all_ids = store.gather(np.arange(len(store)))[0]
  # The embedded corpus has 201 documents: one end-of-text each (the last
  # may fall in the dropped remainder).
  assert np.sum(all_ids == tokenizer.eot_id) in (200, 201)


def test_a_checkpoint_from_before_the_decoder_fields_resumes(micro_config):
  """An encoder checkpoint written before the model section had the decoder
  keys resumes: missing keys are their defaults. A changed one is refused."""
  saved = {'config': json.loads(micro_config.to_json()), 'vocab_id': 'v'}
  for key in ('causal', 'norm_position', 'embedding_norm', 'attention_impl',
              'head_dim',
              'init_distribution', 'position_init_std', 'scale_residual_init'):
    del saved['config']['model'][key]
  current = {'config': json.loads(micro_config.to_json()), 'vocab_id': 'v'}
  trainer.check_resumable(saved, current)
  current['config']['model']['causal'] = True
  with pytest.raises(InputError) as e:
    trainer.check_resumable(saved, current)
  assert_one_line(e, 'causal: False then, True now')


def test_a_data_fsdp_tensor_mesh_gives_the_one_device_loss():
  """The decoder's logical axes shard it over data x fsdp x tensor with the
  same numbers (tied output layer and vocabulary over 'tensor' included)."""
  import jax  # pylint: disable=g-import-not-at-top
  from lm_jax import sharding, training  # pylint: disable=g-import-not-at-top
  config = load_named_config('gpt2_small', 'tiny')
  objective = get_objective('causal_lm')
  batch = objective.make_synthetic_batch(config, 8, seed=0)
  sums = []
  for data, fsdp, tensor in ((1, 1, 1), (2, 2, 2)):
    config.mesh.data, config.mesh.fsdp, config.mesh.tensor = data, fsdp, tensor
    devices = jax.devices()[:data * fsdp * tensor]
    mesh = sharding.make_mesh(config.mesh, devices=devices)
    rules = sharding.rules(config.mesh)
    with sharding.use(mesh, rules):
      parts = training.build(config, objective, config.data.vocab_size, mesh,
                             rules)
      state = parts.init(jax.random.key(0), {})
      sums.append(jax.device_get(parts.evaluate(
          state.params, sharding.global_batch(batch, parts.batch_sharding))[0]))
  assert sums[0]['lm_loss'][0] == pytest.approx(sums[1]['lm_loss'][0], rel=1e-5)
  assert sums[0]['lm_loss'][1] == sums[1]['lm_loss'][1] == 8 * 63
