"""GPT-1 transfer through lm_jax.finetune (§2.7, §3.4): rows `start A
delimiter B extract` with three new tokens, the summary at the extract
token, the auxiliary LM loss (0.5), multiple choice by one score per
choice, from a `gpt1.py:tiny` workdir on the GLUE and PIQA readers."""
import dataclasses
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import assert_one_line, load_named_config
from lm_jax.errors import InputError
from lm_jax.finetuning import backbone, objectives, runner, tasks
from lm_jax.finetuning.model import FinetuneModel
from lm_jax.models.model_config import from_model_config
from test_finetune import DATA, finetune_config, run


@pytest.fixture(scope='module')
def gpt1(tiny_runs):
  return tiny_runs('gpt1')


def test_rows_are_start_a_delimiter_b_extract(gpt1):
  config = finetune_config('glue', task='rte', init_checkpoint=gpt1,
                           data_dir=os.path.join(DATA, 'glue', 'RTE'))
  pretrained, tokenizer = backbone.open_pretrained(gpt1)
  row = runner.transfer_row(pretrained, tokenizer)
  v = pretrained.vocab_size
  assert (row.start, row.delimiter, row.end) == (v, v + 1, v + 2)
  data = tasks.get('rte').load(config, tokenizer, lambda line: None, row)
  ids, mask = data.evals[0].arrays['ids'][0], data.evals[0].arrays['input_mask'][0]
  example = data.evals[0].examples[0]
  a, b = tokenizer.encode(example.text_a), tokenizer.encode(example.text_b)
  n = int(mask.sum())
  assert ids[0] == v and ids[n - 1] == v + 2
  assert list(ids[:n]).count(v + 1) == 1  # one delimiter between A and B
  delimiter = list(ids).index(v + 1)
  assert list(ids[1:delimiter]) == a[:delimiter - 1]
  assert list(ids[delimiter + 1:n - 1]) == b[-(n - delimiter - 2):]
  # An encoder workdir keeps BERT's rows.
  encoder = dataclasses.replace(
      pretrained, config=load_named_config('electra_small', 'tiny'))
  assert runner.transfer_row(encoder, tokenizer) is None


def tiny_transfer_model(head='sequence', num_outputs=2):
  c = load_named_config('gpt1', 'tiny')
  return FinetuneModel(from_model_config(c.model, 50), head=head,
                       num_outputs=num_outputs)


def test_the_summary_is_the_extract_tokens_state():
  """Padding after the extract token changes nothing; the tokens before it
  do (causal: the extract token has seen the whole row)."""
  model = tiny_transfer_model()
  ids = jnp.array([[50, 7, 8, 9, 52, 0, 0], [50, 4, 51, 5, 6, 52, 0]])
  mask = (jnp.arange(7)[None] < jnp.array([[5], [6]])).astype(jnp.int32)
  params = nn.unbox(model.init(jax.random.key(0), ids, ids, mask)['params'])
  assert params['transfer_embeddings'].shape == (3, 64)
  out = model.apply({'params': params}, ids, ids, mask)
  padded = ids.at[:, -1].set(33)
  np.testing.assert_array_equal(
      out, model.apply({'params': params}, padded, padded, mask))
  changed = ids.at[0, 1].set(11)
  assert not np.allclose(out[0], model.apply({'params': params}, changed,
                                             changed, mask)[0])


def test_the_loss_adds_half_the_lm_loss():
  model = tiny_transfer_model()
  config = finetune_config('glue', task='rte')
  config.objective.name = 'classification'
  ids = jnp.array([[50, 7, 8, 9, 52, 0], [50, 4, 51, 5, 6, 52]])
  mask = (ids != 0).astype(jnp.int32)
  params = nn.unbox(model.init(jax.random.key(0), ids, ids, mask)['params'])
  batch = dict(ids=ids, segment_ids=ids, input_mask=mask,
               label=jnp.array([0, 1]), weight=jnp.ones(2))
  loss, metrics = objectives.loss(model, params, batch, jax.random.key(1),
                                  config.objective)
  assert float(loss) == pytest.approx(float(metrics['head_loss'] + 0.5 * metrics['lm_loss']),
                               rel=1e-6)
  _, lm = model.apply({'params': params}, ids, ids, mask, with_lm=True)
  assert lm.shape == (2, 6, 53)  # the vocabulary and the three new tokens
  config.objective.lm_coef = 0.0
  loss, metrics = objectives.loss(model, params, batch, jax.random.key(1),
                                  config.objective)
  assert 'lm_loss' not in metrics


@pytest.mark.slow
def test_gpt1_fine_tunes_on_piqa(gpt1, tmp_path):
  """The runner end to end with a causal body (GLUE's rows are checked
  above; SST-2 to above the majority class is in docs)."""
  results = run(finetune_config('multiple_choice', task='piqa',
                                init_checkpoint=gpt1,
                                data_dir=os.path.join(DATA, 'piqa')),
                tmp_path / 'piqa')
  assert 0 <= results['accuracy'] <= 1
  rows = (tmp_path / 'piqa' / 'metrics.jsonl').read_text()
  assert 'lm_loss' in rows and 'head_loss' in rows


def test_tagging_and_squad_need_an_encoder(gpt1, tmp_path):
  config = finetune_config('conll2003', task='conll2003', init_checkpoint=gpt1,
                           data_dir=os.path.join(DATA, 'conll2003'))
  with pytest.raises(InputError) as e:
    run(config, tmp_path)
  assert_one_line(e, 'CoNLL-2003 tagging fine-tunes an encoder')
  assert not os.listdir(tmp_path)


@pytest.mark.parametrize('family', ['glue', 'multiple_choice'])
def test_the_gpt1_recipe_variant(family):
  import importlib.util  # pylint: disable=g-import-not-at-top
  from conftest import REPO  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location(
      family, os.path.join(REPO, 'configs', 'finetune', f'{family}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config('gpt1')
  assert (c.optim.learning_rate, c.optim.warmup_fraction, c.objective.lm_coef,
          c.train.num_epochs, c.data.batch_size) == (6.25e-5, 0.002, 0.5, 3, 32)
