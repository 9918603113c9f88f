"""lm_jax/models/bert.py and the encoder's layer sharing: the §6 parameter
counts, heads, ALBERT groups and tied outputs."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lm_jax.models.bert import BertModel
from lm_jax.models.electra import ElectraModel
from lm_jax.models.encoder import layer_groups
from lm_jax.models.model_config import TransformerConfig, scaled_generator


def count(tree) -> int:
  return sum(x.size for x in jax.tree.leaves(tree))


def abstract_params(model, length=16, slots=3):
  ids = jnp.zeros((1, length), jnp.int32)
  pos = jnp.zeros((1, slots), jnp.int32)
  return nn.unbox(jax.eval_shape(
      lambda: model.init(jax.random.key(0), ids, ids, ids, pos))['params'])


def body_count(params, pooler=True) -> int:
  """Embeddings + encoder (+ the pooler): what §2.2/§6 count."""
  n = count(params['embeddings']) + count(params['encoder'])
  if pooler:
    n += count(params['sentence_classifier']['pooler'])
  return n


BASE = TransformerConfig(30522, 768, 12, 12, 3072, 768)
LARGE = TransformerConfig(30522, 1024, 24, 16, 4096, 1024)


@pytest.mark.parametrize('name, config, pooler, expected', [
    ('BERT-base', BASE, True, 109_482_240),
    ('BERT-large', LARGE, True, 335_141_888),
    ('ALBERT-base', TransformerConfig(30000, 768, 12, 12, 3072, 128,
                                      share_layers='all'), True, 11_683_584),
    ('DistilBERT', TransformerConfig(30522, 768, 6, 12, 3072, 768,
                                     type_vocab_size=0), False, 66_362_880),
])
def test_published_parameter_counts(name, config, pooler, expected):
  params = abstract_params(BertModel(config, sentence_head=pooler))
  assert body_count(params, pooler) == expected, name


@pytest.mark.parametrize('disc, expected', [(BASE, 108_891_648),
                                             (LARGE, 334_092_288)])
def test_electra_discriminator_counts(disc, expected):
  """ELECTRA-Base/Large discriminators: the BERT body without the pooler."""
  params = abstract_params(ElectraModel(disc, scaled_generator(disc, 0.25)))
  assert count(params['embeddings']) + count(params['discriminator']) == expected


def test_untied_generator_has_embeddings_of_its_own():
  disc = TransformerConfig(100, 32, 1, 1, 64, 16)
  tied = abstract_params(ElectraModel(disc, scaled_generator(disc, 0.5)))
  untied = abstract_params(ElectraModel(disc, scaled_generator(disc, 0.5),
                                        share_embeddings=False))
  assert 'generator_embeddings' not in tied
  assert untied['generator_embeddings']['word_embeddings']['embedding'].shape == (100, 16)


@pytest.mark.parametrize('share, groups, attention, ffn', [
    ('all', 1, [0] * 4, [0] * 4),
    ('all', 2, [0, 0, 1, 1], [0, 0, 1, 1]),
    ('attention', 1, [0] * 4, [0, 1, 2, 3]),
    ('ffn', 2, [0, 1, 2, 3], [0, 0, 1, 1]),
])
def test_layer_groups(share, groups, attention, ffn):
  cfg = TransformerConfig(50, 32, 4, 2, 64, 32, share_layers=share,
                          num_layer_groups=groups)
  assert layer_groups(cfg) == (attention, ffn)
  encoder = abstract_params(BertModel(cfg))['encoder']
  assert sorted(k for k in encoder if k.startswith('attention_')) == [
      f'attention_{g}' for g in sorted(set(attention))]
  assert sorted(k for k in encoder if k.startswith('ffn_')) == [
      f'ffn_{g}' for g in sorted(set(ffn))]


def test_shared_layers_equal_one_block_applied_repeatedly():
  """ALBERT with one group: 3 layers == the same block applied 3 times; an
  unshared encoder whose layers all hold that block gives the same output."""
  shared = TransformerConfig(50, 32, 3, 2, 64, 32, share_layers='all')
  plain = TransformerConfig(50, 32, 3, 2, 64, 32)
  ids = jnp.array([[2, 7, 8, 9, 3, 0]])
  seg, mask = jnp.zeros_like(ids), (ids > 0).astype(jnp.int32)
  pos = jnp.array([[1, 2]])
  p_shared = nn.unbox(BertModel(shared).init(jax.random.key(0), ids, seg, mask, pos))['params']
  p_plain = nn.unbox(BertModel(plain).init(jax.random.key(1), ids, seg, mask, pos))['params']
  block = {**p_shared['encoder']['attention_0'], **p_shared['encoder']['ffn_0']}
  p_plain['encoder']['layers'] = jax.tree.map(
      lambda x: jnp.stack([x] * 3), block)
  p_plain['embeddings'] = p_shared['embeddings']
  p_plain['mlm_head'] = p_shared['mlm_head']
  run = lambda model, p: model.apply({'params': p}, ids, seg, mask, pos)['mlm']
  np.testing.assert_allclose(run(BertModel(shared), p_shared),
                             run(BertModel(plain), p_plain), atol=1e-5)


def test_heads_shapes_and_tied_outputs():
  cfg = TransformerConfig(60, 32, 2, 2, 64, 16)
  model = BertModel(cfg, sentence_head=True, sbo_max_targets=5,
                    sbo_position_size=8)
  ids = jnp.array([[2, 7, 8, 9, 10, 3], [2, 11, 3, 0, 0, 0]])
  seg, mask = jnp.zeros_like(ids), (ids > 0).astype(jnp.int32)
  pos = jnp.array([[1, 2, 3], [1, 0, 0]])
  params = nn.unbox(model.init(jax.random.key(0), ids, seg, mask, pos))['params']
  out = model.apply({'params': params}, ids, seg, mask, pos)
  assert out['mlm'].shape == (2, 3, 60) and out['mlm'].dtype == jnp.float32
  assert out['sentence'].shape == (2, 2) and out['sbo'].shape == (2, 3, 60)
  assert params['encoder']['embeddings_project']['kernel'].shape == (16, 32)
  # Tied: both vocabulary heads have a bias of their own and no [V, E] matrix.
  for head in ('mlm_head', 'span_boundary_head'):
    assert params[head]['output_bias'].shape == (60,)
    assert all(x.shape[0] != 60 or x.ndim == 1 for x in jax.tree.leaves(params[head]))
  assert params['span_boundary_head']['offset_embeddings']['embedding'].shape == (5, 8)


def test_no_token_type_table_ignores_segments():
  cfg = TransformerConfig(60, 32, 1, 2, 64, 32, type_vocab_size=0)
  model = BertModel(cfg)
  ids = jnp.array([[2, 7, 8, 3]])
  mask, pos = jnp.ones_like(ids), jnp.array([[1]])
  params = nn.unbox(model.init(jax.random.key(0), ids, ids * 0, mask, pos))['params']
  assert 'token_type_embeddings' not in params['embeddings']
  a = model.apply({'params': params}, ids, jnp.zeros_like(ids), mask, pos)['mlm']
  b = model.apply({'params': params}, ids, jnp.ones_like(ids), mask, pos)['mlm']
  np.testing.assert_array_equal(a, b)
