"""lm_jax/models/gpt.py and the decoder side of the encoder stack: the
published parameter counts (§2.2, §6), the GPT-3 table, the causal mask,
GPT-1's post-LN and GPT-2's pre-LN blocks, their initialisation, and the
fused attention path."""
import dataclasses
import importlib.util

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO, load_named_config
from lm_jax import planning
from lm_jax.models.gpt import CausalLM
from lm_jax.models.model_config import from_model_config


def count(tree) -> int:
  return sum(x.size for x in jax.tree.leaves(tree))


def abstract_params(model, length=8):
  ids = jnp.zeros((1, length), jnp.int32)
  return nn.unbox(jax.eval_shape(
      lambda: model.init(jax.random.key(0), ids, jnp.ones_like(ids)))['params'])


def model_of(name: str, variant: str = '', vocab_size: int = 0, **changes):
  c = load_named_config(name, variant)
  cfg = from_model_config(c.model, vocab_size or c.data.vocab_size)
  return CausalLM(dataclasses.replace(cfg, **changes))


@pytest.mark.parametrize('name, expected', [
    ('gpt2_small', 124_439_808),  # §6
    ('gpt2_medium', 354_823_168),
    ('gpt2_large', 774_030_080),
    ('gpt2_xl', 1_557_611_200),
    ('gpt1', 116_534_784),  # 40,478 vocabulary, 512 positions, no final LN
])
def test_published_parameter_counts(name, expected):
  assert count(abstract_params(model_of(name))) == expected


def gpt3_count(layers, hidden, heads, vocab=50257, context=2048) -> int:
  """By hand: per layer Q, K, V, output (4 H A + 3 A + H, A the heads'
  width), FFN (8 H^2 + 5 H), two LayerNorms (4 H); word and position tables;
  the final LayerNorm."""
  inner = heads * 128 if hidden % heads else hidden
  attention = 4 * hidden * inner + 3 * inner + hidden
  layer = attention + 8 * hidden**2 + 5 * hidden + 4 * hidden
  return layers * layer + (vocab + context) * hidden + 2 * hidden


def test_gpt3_family_plans_on_cpu_with_the_papers_counts():
  spec = importlib.util.spec_from_file_location('gpt3', f'{REPO}/configs/gpt3.py')
  gpt3 = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(gpt3)
  for variant, (layers, hidden, heads, batch, _, paper) in gpt3.SIZES.items():
    config = gpt3.get_config(variant)
    figures = planning.plan(config)
    assert figures['params'] == gpt3_count(layers, hidden, heads), variant
    # The paper's column is rounded; the table's shapes give these counts.
    assert abs(figures['params'] / paper - 1) < 0.02, variant
    assert config.data.batch_size == batch and config.data.seq_len == 2048
    # Adam's two f32 moments (and its step count).
    assert 0 <= figures['optimizer_bytes'] - 2 * figures['param_bytes'] < 64
  assert planning.plan(gpt3.get_config('175B'))['params'] == 174_604_259_328


@pytest.fixture(scope='module', params=['gpt1', 'gpt2_small'])
def tiny(request):
  model = model_of(request.param, 'tiny', vocab_size=97)
  ids = jnp.asarray(np.random.default_rng(0).integers(0, 97, (2, 12)), jnp.int32)
  params = nn.unbox(
      model.init(jax.random.key(1), ids, jnp.ones_like(ids))['params'])
  return request.param, model, params, ids


def test_changing_a_future_token_leaves_earlier_logits_unchanged(tiny):
  _, model, params, ids = tiny
  mask = jnp.ones_like(ids)
  before = model.apply({'params': params}, ids, mask)
  changed = ids.at[:, 7].set((ids[:, 7] + 1) % 97)
  after = model.apply({'params': params}, changed, mask)
  np.testing.assert_array_equal(before[:, :7], after[:, :7])
  assert not np.allclose(before[:, 7:], after[:, 7:])


def test_blocks_and_tied_output(tiny):
  name, model, params, ids = tiny
  decoder = params['decoder']
  # GPT-2: pre-LN with a final LayerNorm; GPT-1: post-LN, none.
  assert ('final_layer_norm' in decoder) == (name == 'gpt2_small')
  assert 'layer_norm' not in params['embeddings']  # no embedding LN
  assert 'token_type_embeddings' not in params['embeddings']
  assert set(params) == {'embeddings', 'decoder'}  # tied, no output bias
  logits = model.apply({'params': params}, ids, jnp.ones_like(ids))
  assert logits.dtype == jnp.float32 and logits.shape == (2, 12, 97)
  h = model.apply({'params': params}, ids, jnp.ones_like(ids),
                  method=CausalLM.hidden)
  table = params['embeddings']['word_embeddings']['embedding']
  np.testing.assert_allclose(logits, jnp.einsum('ble,ve->blv', h, table),
                             rtol=1e-5, atol=1e-5)


def test_pre_ln_block_order():
  """GPT-2: x + attn(LN(x)); an all-zero attention leaves x unchanged at the
  residual, where post-LN would normalise it."""
  model = model_of('gpt2_small', 'tiny', vocab_size=50)
  ids = jnp.arange(6)[None] % 50
  params = nn.unbox(model.init(jax.random.key(0), ids,
                                jnp.ones_like(ids))['params'])
  zeroed = jax.tree_util.tree_map_with_path(
      lambda path, x: jnp.zeros_like(x) if any(
          getattr(k, 'key', '') in ('attention', 'intermediate', 'output')
          for k in path) else x, params)
  h = model.apply({'params': zeroed}, ids, jnp.ones_like(ids),
                  method=CausalLM.hidden)
  emb = model.apply({'params': zeroed}, ids, method=lambda m, i: m.embeddings(i))
  final = nn.LayerNorm(epsilon=1e-5)
  expected = final.apply({'params': zeroed['decoder']['final_layer_norm']}, emb)
  np.testing.assert_allclose(h, expected, rtol=1e-5, atol=1e-5)


def test_gpt2_initialisation():
  """N(0, 0.02) weights, positions N(0, 0.01), residual output projections
  0.02 / sqrt(2 L) (§2.5), untruncated."""
  model = model_of('gpt2_small', vocab_size=1000, num_layers=2,
                   max_positions=1024)
  ids = jnp.zeros((1, 4), jnp.int32)
  params = nn.unbox(model.init(jax.random.key(0), ids, jnp.ones_like(ids))['params'])
  layers = params['decoder']['layers']
  stds = {
      'word': params['embeddings']['word_embeddings']['embedding'].std(),
      'position': params['embeddings']['position_embeddings']['embedding'].std(),
      'query': layers['attention']['query']['kernel'].std(),
      'attention_output': layers['attention']['output']['kernel'].std(),
      'ffn_output': layers['output']['kernel'].std(),
      'ffn_in': layers['intermediate']['kernel'].std(),
  }
  residual = 0.02 / np.sqrt(2 * 2)
  expected = dict(word=0.02, position=0.01, query=0.02, ffn_in=0.02,
                  attention_output=residual, ffn_output=residual)
  for name, std in stds.items():
    assert abs(std / expected[name] - 1) < 0.03, (name, std)
  # Untruncated: values beyond 2 std exist (truncated normal has none).
  assert jnp.max(jnp.abs(layers['intermediate']['kernel'])) > 3 * 0.02


@pytest.mark.parametrize('impl', ['xla'])
def test_fused_attention_matches_the_plain_path(tiny, impl):
  _, model, params, ids = tiny
  mask = jnp.ones_like(ids).at[0, :3].set(0)  # padding too
  fused = CausalLM(dataclasses.replace(model.config, attention_impl=impl))
  real = mask.astype(bool)  # padded queries see no key: undefined either way
  np.testing.assert_allclose(
      fused.apply({'params': params}, ids, mask)[real],
      model.apply({'params': params}, ids, mask)[real], rtol=2e-5, atol=2e-5)


def test_fresh_model_loss_is_about_ln_vocab():
  """§6: a fresh LM starts near ln V."""
  from lm_jax.objectives import causal_lm  # pylint: disable=g-import-not-at-top
  config = load_named_config('gpt2_small', 'tiny')
  model = causal_lm.build_model(config, 2000, deterministic=True)
  ids = jnp.asarray(np.random.default_rng(0).integers(0, 2000, (4, 64)),
                    jnp.int32)
  batch = {'input_ids': ids, 'input_mask': jnp.ones_like(ids)}
  params = model.init(jax.random.key(0), ids, jnp.ones_like(ids))['params']
  loss, metrics = causal_lm.loss(model, params, batch, None, config.objective)
  assert abs(float(loss) - np.log(2000)) < 0.1
  assert metrics['perplexity'] == pytest.approx(np.exp(float(loss)), rel=1e-5)


def test_heads_wider_than_the_model_divides():
  """head_dim apart from hidden / heads (GPT-3 13B: 40 x 128 in 5140)."""
  model = model_of('gpt2_small', 'tiny', vocab_size=50, hidden_size=60,
                   num_heads=4, head_dim=16, intermediate_size=240,
                   embedding_size=60)
  ids = jnp.arange(10)[None] % 50
  params = nn.unbox(model.init(jax.random.key(0), ids,
                               jnp.ones_like(ids))['params'])
  attention = params['decoder']['layers']['attention']
  assert attention['query']['kernel'].shape == (2, 60, 4, 16)
  assert attention['output']['kernel'].shape == (2, 4, 16, 60)
  assert model.apply({'params': params}, ids, jnp.ones_like(ids)).shape == (1, 10, 50)
