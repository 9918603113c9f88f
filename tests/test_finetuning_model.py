"""lm_jax/finetuning/model.py and objectives.py: every head's shapes, the
choice head scoring each choice as a separate input, the pooler only where
asked, STS-B's target scaling, and padding rows out of every sum."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from lm_jax.finetuning import objectives
from lm_jax.finetuning.model import FinetuneModel
from lm_jax.models.model_config import TransformerConfig

CFG = TransformerConfig(vocab_size=50, hidden_size=16, num_layers=2,
                        num_heads=2, intermediate_size=32, embedding_size=8,
                        max_positions=16)


def inputs(shape):
  ids = jax.random.randint(jax.random.key(1), shape, 1, 50)
  return ids, jnp.zeros(shape, jnp.int32), jnp.ones(shape, jnp.int32)


@pytest.mark.parametrize('head, shape, expected', [
    ('sequence', (3, 7), (3, 4)),
    ('token', (3, 7), (3, 7, 4)),
    ('span', (3, 7), (3, 7, 2)),
    ('choice', (3, 2, 7), (3, 2)),
])
def test_head_shapes(head, shape, expected):
  model = FinetuneModel(CFG, head=head, num_outputs=4)
  params = model.init(jax.random.key(0), *inputs(shape))['params']
  out = model.apply({'params': params}, *inputs(shape))
  assert out.shape == expected and out.dtype == jnp.float32
  assert {'embeddings', 'encoder', 'classifier'} == set(params)


def test_choice_scores_each_choice_as_its_own_input():
  model = FinetuneModel(CFG, head='choice')
  ids, segments, mask = inputs((2, 3, 7))
  params = model.init(jax.random.key(0), ids, segments, mask)['params']
  scores = model.apply({'params': params}, ids, segments, mask)
  single = FinetuneModel(CFG, head='sequence', num_outputs=1)
  for c in range(3):
    alone = single.apply({'params': params}, ids[:, c], segments[:, c],
                         mask[:, c])[:, 0]
    np.testing.assert_allclose(scores[:, c], alone, rtol=1e-5, atol=1e-6)


def test_pooler_only_when_asked():
  with_pooler = FinetuneModel(CFG, head='sequence', use_pooler=True)
  params = with_pooler.init(jax.random.key(0), *inputs((1, 5)))['params']
  assert 'pooler' in params


def objective_cfg(name, **kw):
  return ml_collections.ConfigDict(dict(name=name, target_scale=5.0, **kw))


def test_regression_scales_targets_and_predictions():
  model = FinetuneModel(CFG, head='sequence', num_outputs=1)
  ids, segments, mask = inputs((4, 6))
  params = model.init(jax.random.key(0), ids, segments, mask)['params']
  raw = model.apply({'params': params}, ids, segments, mask)[:, 0]
  batch = dict(ids=ids, segment_ids=segments, input_mask=mask,
               target=jnp.array([0., 2.5, 5., 1.]),
               weight=jnp.array([1., 1., 1., 0.]))
  sums, out = objectives.evaluate(model, params, batch, jax.random.key(0),
                                  objective_cfg('regression'))
  np.testing.assert_allclose(out['prediction'], raw * 5, rtol=1e-6)
  expected = np.sum((np.asarray(raw[:3]) - np.array([0., .5, 1.])) ** 2)
  np.testing.assert_allclose(sums['loss'][0], expected, rtol=1e-5)
  assert float(sums['loss'][1]) == 3  # the padding row counts for nothing


def test_span_loss_is_the_mean_of_start_and_end_cross_entropy():
  model = FinetuneModel(CFG, head='span')
  ids, segments, mask = inputs((2, 6))
  params = model.init(jax.random.key(0), ids, segments, mask)['params']
  logits = model.apply({'params': params}, ids, segments, mask)
  batch = dict(ids=ids, segment_ids=segments, input_mask=mask,
               start_position=jnp.array([1, 0]),
               end_position=jnp.array([3, 0]), weight=jnp.ones(2))
  loss, _ = objectives.loss(model, params, batch, jax.random.key(0),
                            objective_cfg('span_qa'))
  log_p = jax.nn.log_softmax(logits, axis=1)
  expected = -0.5 * np.mean([log_p[0, 1, 0] + log_p[0, 3, 1],
                             log_p[1, 0, 0] + log_p[1, 0, 1]])
  np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_tagging_scores_first_sub_tokens_only():
  model = FinetuneModel(CFG, head='token', num_outputs=3)
  ids, segments, mask = inputs((1, 5))
  params = model.init(jax.random.key(0), ids, segments, mask)['params']
  logits = model.apply({'params': params}, ids, segments, mask)
  batch = dict(ids=ids, segment_ids=segments, input_mask=mask,
               tags=jnp.array([[-1, 2, -1, 0, -1]]), weight=jnp.ones(1))
  sums, out = objectives.evaluate(model, params, batch, jax.random.key(0),
                                  objective_cfg('tagging'))
  log_p = jax.nn.log_softmax(logits[0])
  np.testing.assert_allclose(sums['loss'][0], -(log_p[1, 2] + log_p[3, 0]),
                             rtol=1e-5)
  assert float(sums['loss'][1]) == 2
  assert out['predicted_tags'].shape == (1, 5)
