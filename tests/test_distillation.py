"""lm_jax/objectives/distillation.py: the frozen teacher, the student's start
from teacher layers, the losses, and refusals before any step."""
import jax
import numpy as np
import pytest

from lm_jax import checkpointing, sharding, trainer, training
from lm_jax.errors import InputError
from lm_jax.objectives import distillation, get_objective
from tests.conftest import load_named_config

quiet = lambda line: None


def shrink(c):
  c.model.hidden_size, c.model.num_heads = 32, 2
  c.model.intermediate_size, c.model.embedding_size = 64, 32
  c.data.vocab_size, c.data.seq_len, c.data.batch_size = 1000, 32, 8
  c.train.num_steps, c.train.log_every, c.train.checkpoint_every = 4, 2, 4
  c.train.async_checkpoints = False
  return c


@pytest.fixture(scope='module')
def teacher(tmp_path_factory):
  """A 4-layer tiny BERT teacher workdir."""
  config = shrink(load_named_config('bert_base', 'tiny'))
  config.model.num_layers = 4
  workdir = str(tmp_path_factory.mktemp('teacher'))
  trainer.run(config, workdir, print_fn=quiet)
  return workdir


def student(teacher_workdir, **objective):
  c = shrink(load_named_config('distilbert', 'tiny'))
  c.model.num_layers = 2
  c.teacher_checkpoint = teacher_workdir
  for key, value in objective.items():
    c.objective[key] = value
  return c


def test_layer_maps():
  np.testing.assert_array_equal(distillation.teacher_layers(6, 12),
                                [0, 2, 4, 7, 9, 11])
  np.testing.assert_array_equal(distillation.matched_layers(6, 12),
                                [1, 3, 5, 7, 9, 11])


def built(config):
  objective = get_objective('distillation')
  objective.check(config)
  mesh = sharding.make_mesh(config.mesh, devices=jax.devices()[:1])
  rules = sharding.rules(config.mesh)
  return objective, mesh, rules


def teacher_params(workdir, target):
  checkpointer, step, _ = checkpointing.open_workdir(workdir)
  try:
    return checkpointer.restore_params(step, target)
  finally:
    checkpointer.close()


@pytest.mark.parametrize('intermediate', [False, True])
def test_teacher_is_frozen_and_the_student_starts_from_it(teacher, intermediate):
  extra = dict(hidden_weight=1.0, attention_weight=1.0) if intermediate else {}
  config = student(teacher, **extra)
  objective, mesh, rules = built(config)
  meta = checkpointing.open_workdir(teacher)
  meta[0].close()
  with sharding.use(mesh, rules):
    parts = training.build(config, objective, 1000, mesh, rules)
    frozen = objective.restore_frozen(config, parts.frozen_target(),
                                      meta[2]['vocab_id'])
    original = jax.tree.map(np.asarray, frozen)
    state = parts.init(jax.random.key(0), frozen)
    # The student: teacher layers [0, 3] of 4, its embeddings and MLM head.
    s, t = state.params['student'], frozen['teacher']
    np.testing.assert_array_equal(
        s['encoder']['layers']['intermediate']['kernel'],
        t['encoder']['layers']['intermediate']['kernel'][np.array([0, 3])])
    np.testing.assert_array_equal(s['mlm_head']['output_bias'],
                                  t['mlm_head']['output_bias'])
    np.testing.assert_array_equal(
        s['embeddings']['word_embeddings']['embedding'],
        t['embeddings']['word_embeddings']['embedding'])
    assert 'token_type_embeddings' not in s['embeddings']
    # No gradient and no optimizer state for the teacher.
    assert set(state.params) == ({'student', 'hidden_projection'}
                                 if intermediate else {'student'})
    assert 'teacher' not in state.opt_state[1].mu
    batch = sharding.global_batch(
        objective.make_synthetic_batch(config, 8, seed=0), parts.batch_sharding)
    for _ in range(3):
      state, metrics = parts.step(state, batch, frozen)
    metrics = jax.device_get(metrics)
  jax.tree.map(np.testing.assert_array_equal, original,
               jax.tree.map(np.asarray, frozen))
  jax.tree.map(np.testing.assert_array_equal, original['teacher'],
               jax.tree.map(np.asarray, teacher_params(
                   teacher, parts.frozen_target()['teacher'])))
  for key in ('kl_loss', 'mlm_loss', 'cosine_loss'):
    assert np.isfinite(metrics[key]) and metrics[key] > 0
  if intermediate:
    assert metrics['hidden_loss'] > 0 and metrics['attention_loss'] > 0


def test_kl_is_zero_when_the_student_is_the_teacher(teacher):
  """A student holding the whole teacher (same layers) matches it exactly:
  KL and cosine terms vanish, as they must at T = 2."""
  config = student(teacher)
  config.model.num_layers = 4
  config.model.type_vocab_size = 2
  config.model.dropout_rate = config.model.attention_dropout_rate = 0.0
  objective, mesh, rules = built(config)
  with sharding.use(mesh, rules):
    parts = training.build(config, objective, 1000, mesh, rules)
    meta = checkpointing.open_workdir(teacher)
    meta[0].close()
    frozen = objective.restore_frozen(config, parts.frozen_target(),
                                      meta[2]['vocab_id'])
    state = parts.init(jax.random.key(0), frozen)
    params = dict(state.params)
    params['student'] = {k: v for k, v in frozen['teacher'].items()
                         if k != 'sentence_classifier'}
    batch = sharding.global_batch(
        objective.make_synthetic_batch(config, 8, seed=0), parts.batch_sharding)
    _, metrics = objective.loss(parts.model, dict(params, **frozen), batch,
                                jax.random.key(1), config.objective)
  assert abs(float(metrics['kl_loss'])) < 1e-4
  assert abs(float(metrics['cosine_loss'])) < 1e-4


def test_refusals(teacher, tmp_path):
  with pytest.raises(InputError, match='distillation needs a teacher'):
    get_objective('distillation').check(student(''))
  with pytest.raises(InputError, match='is not an lm_jax workdir'):
    get_objective('distillation').check(student(str(tmp_path)))
  with pytest.raises(InputError, match='hidden size 48 differs'):
    c = student(teacher)
    c.model.hidden_size = 48
    get_objective('distillation').check(c)
  # A run whose vocabulary is not the teacher's: refused at the restore,
  # before the trainer writes anything.
  c = student(teacher)
  objective, mesh, rules = built(c)
  with sharding.use(mesh, rules):
    parts = training.build(c, objective, 1000, mesh, rules)
    with pytest.raises(InputError, match='different vocabulary'):
      objective.restore_frozen(c, parts.frozen_target(), 'another-vocab')
  assert not (tmp_path / 'checkpoints').exists()
