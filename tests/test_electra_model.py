"""lm_jax/models/electra.py: sizes, sharing and numerics of the ELECTRA pair."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lm_jax.models.electra import ElectraModel
from lm_jax.models.model_config import TransformerConfig, scaled_generator
from tests.test_model_config import SMALL


def count(tree) -> int:
  return sum(x.size for x in jax.tree.leaves(tree))


def abstract_params(model, length=128, slots=19):
  ids = jnp.zeros((1, length), jnp.int32)
  pos = jnp.zeros((1, slots), jnp.int32)
  return jax.eval_shape(lambda: model.init(jax.random.key(0), ids, ids, ids,
                                           pos))['params']


def test_electra_small_discriminator_has_13_483_008_parameters():
  """§6: the published count, shared embeddings + discriminator, no heads."""
  params = nn.unbox(abstract_params(ElectraModel(SMALL, scaled_generator(SMALL, 0.25))))
  assert count(params['embeddings']) + count(params['discriminator']) == 13_483_008
  # Head sizes: Dense(256->256) + Dense(256->1); MLM head Dense(64->128), LN, bias V.
  assert count(params['discriminator_head']) == 256 * 256 + 256 + 256 + 1
  assert count(params['generator_head']) == 64 * 128 + 128 + 2 * 128 + 30522


def test_one_shared_embedding_table_and_own_projections():
  params = nn.unbox(abstract_params(ElectraModel(SMALL, scaled_generator(SMALL, 0.25))))
  tables = [p for p, _ in jax.tree_util.tree_leaves_with_path(params)
            if 'word_embeddings' in jax.tree_util.keystr(p)]
  assert len(tables) == 1
  assert params['generator']['embeddings_project']['kernel'].shape == (128, 64)
  assert params['discriminator']['embeddings_project']['kernel'].shape == (128, 256)
  # E == H (ELECTRA-Base): no discriminator projection, but the generator has one.
  base = TransformerConfig(vocab_size=100, hidden_size=64, num_layers=1,
                           num_heads=1, intermediate_size=8, embedding_size=64)
  params = nn.unbox(abstract_params(ElectraModel(base, scaled_generator(base, 0.5))))
  assert 'embeddings_project' not in params['discriminator']
  assert params['generator']['embeddings_project']['kernel'].shape == (64, 32)


def test_every_parameter_has_logical_axis_names():
  boxed = abstract_params(ElectraModel(SMALL, scaled_generator(SMALL, 0.25)))
  leaves = jax.tree.leaves(boxed, is_leaf=lambda x: isinstance(x, nn.Partitioned))
  assert leaves and all(isinstance(x, nn.LogicallyPartitioned) for x in leaves)
  for leaf in leaves:
    assert len(leaf.names) == leaf.value.ndim


def tiny_model(compute_dtype='float32', deterministic=True):
  disc = TransformerConfig(vocab_size=50, hidden_size=32, num_layers=2,
                           num_heads=2, intermediate_size=64, embedding_size=16,
                           compute_dtype=compute_dtype)
  return ElectraModel(disc, scaled_generator(disc, 0.5), deterministic)


def test_generator_logits_depend_on_the_shared_word_table():
  """The MLM output is tied to the word table both networks read."""
  model = tiny_model()
  ids = jnp.array([[2, 7, 8, 9, 3, 0]])
  seg, mask, pos = jnp.zeros_like(ids), (ids > 0).astype(jnp.int32), jnp.array([[1, 2]])
  params = nn.unbox(model.init(jax.random.key(0), ids, seg, mask, pos)['params'])

  def gen_loss(p):
    return model.apply({'params': p}, ids, seg, mask, pos,
                       method=ElectraModel.generator_logits).sum()

  grads = jax.jit(jax.grad(gen_loss))(params)
  table_grad = grads['embeddings']['word_embeddings']['embedding']
  # Rows of tokens never in the input still get gradient: the tied output layer.
  assert float(jnp.abs(table_grad[40]).sum()) > 0
  assert float(sum(jnp.abs(x).sum() for x in jax.tree.leaves(grads['discriminator']))) == 0


def test_padding_keys_are_masked():
  """Changing padded tokens leaves the outputs at real tokens unchanged."""
  model = tiny_model()
  a = jnp.array([[2, 7, 8, 3, 0, 0]])
  b = jnp.array([[2, 7, 8, 3, 11, 12]])
  mask = jnp.array([[1, 1, 1, 1, 0, 0]])
  seg = jnp.zeros_like(a)
  params = nn.unbox(model.init(jax.random.key(0), a, seg, mask,
                               jnp.zeros((1, 2), jnp.int32))['params'])
  run = jax.jit(lambda ids: model.apply({'params': params}, ids, seg, mask,
                                        method=ElectraModel.discriminator_logits))
  np.testing.assert_allclose(run(a)[:, :4], run(b)[:, :4], atol=1e-5)


def test_bfloat16_compute_keeps_f32_params_and_logits():
  model = tiny_model('bfloat16')
  ids = jnp.array([[2, 7, 8, 3]])
  seg, mask, pos = jnp.zeros_like(ids), jnp.ones_like(ids), jnp.array([[1]])
  params = nn.unbox(model.init(jax.random.key(0), ids, seg, mask, pos)['params'])
  assert {x.dtype for x in jax.tree.leaves(params)} == {jnp.dtype('float32')}
  gen, disc = model.apply({'params': params}, ids, seg, mask, pos)
  assert gen.dtype == jnp.float32 and disc.dtype == jnp.float32


def test_dropout_only_when_not_deterministic():
  ids = jnp.array([[2, 7, 8, 3]])
  seg, mask = jnp.zeros_like(ids), jnp.ones_like(ids)
  train, infer = tiny_model(deterministic=False), tiny_model()
  params = nn.unbox(infer.init(jax.random.key(0), ids, seg, mask,
                               jnp.array([[1]]))['params'])
  run = lambda m, seed: m.apply({'params': params}, ids, seg, mask,
                                method=ElectraModel.discriminator_logits,
                                rngs={'dropout': jax.random.key(seed)})
  np.testing.assert_array_equal(run(infer, 0), run(infer, 1))
  assert not np.allclose(run(train, 0), run(train, 1))
