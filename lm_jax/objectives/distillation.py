"""Knowledge distillation of a masked LM (algorithms.md §1.11, §5 pitfall 30).

DistilBERT: loss = kl_weight * T^2 * KL(p_teacher || p_student) over every
non-pad token (both softmaxes at temperature T) + mlm_weight * MLM cross
entropy at the masked positions + cosine_weight * (1 - cos(h_student,
h_teacher)) over non-pad tokens. TinyBERT-style intermediate distillation
adds hidden_weight * MSE(W h_student_i, h_teacher_g(i)) and attention_weight
* MSE of the attention scores, layer i of the student matched to layer
g(i) = (i + 1) * L_teacher / L_student - 1 of the teacher, W learned.

The teacher is an lm_jax `mlm` workdir (`--config.teacher_checkpoint`): its
parameters are frozen (no gradient, no optimizer state), run in the same
jitted step on the same masked input, and the student starts from every
other teacher layer (DistilBERT's [0, 2, 4, 7, 9, 11] of 12).
"""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lm_jax.checkpointing import open_workdir, vocabulary_path
from lm_jax.errors import InputError
from lm_jax.models.bert import BertModel
from lm_jax.models.layers import normal_init, zeros_init
from lm_jax.objectives import Objective, mlm
from lm_jax.objectives import sums as sums_lib

TEACHER = 'teacher'


class DistillationModel(nn.Module):
  """The student (trained), the teacher (frozen) and, for hidden-state
  matching, the student->teacher projection (trained)."""
  student: BertModel
  teacher: BertModel
  project_hidden: bool = False

  def setup(self):
    if self.project_hidden:
      cfg = self.student.config
      self.hidden_projection = nn.Dense(
          self.teacher.config.hidden_size, dtype=cfg.dtype,
          param_dtype=cfg.params_dtype,
          kernel_init=normal_init(cfg, ('embed', None)),
          bias_init=zeros_init((None,)))

  def __call__(self, ids_BxL, segment_ids_BxL, input_mask_BxL, positions_BxN):
    out = {'student': self.student(ids_BxL, segment_ids_BxL, input_mask_BxL,
                                   positions_BxN),
           'teacher': self.teacher(ids_BxL, segment_ids_BxL, input_mask_BxL,
                                   positions_BxN)}
    if self.project_hidden:  # called once so that init creates its params
      out['projection'] = self.hidden_projection(
          jnp.zeros((1, self.student.config.hidden_size)))
    return out


@functools.lru_cache(maxsize=4)
def _teacher_meta(workdir: str) -> dict:
  checkpointer, _, meta = open_workdir(workdir)
  checkpointer.close()
  return meta


def teacher_config(config) -> ml_collections.ConfigDict:
  """The teacher run's config, from its workdir's checkpoint metadata."""
  if not config.teacher_checkpoint:
    raise InputError('distillation needs a teacher: set '
                     '--config.teacher_checkpoint=WORKDIR of an mlm run')
  meta = _teacher_meta(config.teacher_checkpoint)
  teacher = ml_collections.ConfigDict(meta['config'])
  if teacher.objective.name != 'mlm':
    raise InputError(f'the teacher at {config.teacher_checkpoint} was trained '
                     f'with objective {teacher.objective.name!r}; distillation '
                     'needs a masked-LM (mlm) teacher')
  return teacher


def teacher_layers(student_layers: int, teacher_layers_n: int) -> np.ndarray:
  """The teacher layer each student layer starts from: evenly spread, first
  and last included ([0, 2, 4, 7, 9, 11] for 6 of 12)."""
  return np.round(np.linspace(0, teacher_layers_n - 1, student_layers)
                  ).astype(np.int32)


def matched_layers(student_layers: int, teacher_layers_n: int) -> np.ndarray:
  """TinyBERT's map for intermediate matching: student layer i (0-based)
  learns from teacher layer (i + 1) * L_t / L_s - 1."""
  return (np.arange(1, student_layers + 1) * teacher_layers_n
          // student_layers - 1).astype(np.int32)


def check(config) -> None:
  o, m = config.objective, config.model
  mlm.check(config)
  teacher = teacher_config(config)
  if not config.data.vocab_path and config.data.source == 'corpus':
    # The student reads the teacher's vocabulary.
    config.data.vocab_path = vocabulary_path(
        config.teacher_checkpoint, _teacher_meta(config.teacher_checkpoint))
    config.data.tokenizer = teacher.data.tokenizer
    config.data.lowercase = teacher.data.lowercase
    config.data.spm_lowercase = teacher.data.get('spm_lowercase', False)
  t = teacher.model
  problems = []
  if o.sentence_task != 'none' or o.sbo_weight:
    problems.append('distillation trains the MLM head only: set '
                    'objective.sentence_task=none and sbo_weight=0')
  if (o.cosine_weight or o.init_from_teacher) and m.hidden_size != t.hidden_size:
    problems.append(f'the student hidden size {m.hidden_size} differs from the '
                    f"teacher's {t.hidden_size}: set objective.cosine_weight=0 "
                    'and objective.init_from_teacher=False')
  if o.init_from_teacher and (
      m.share_layers != 'none' or t.share_layers != 'none'
      or (m.embedding_size, m.intermediate_size, m.num_heads)
      != (t.embedding_size, t.intermediate_size, t.num_heads)
      or m.num_layers > t.num_layers):
    problems.append('objective.init_from_teacher needs a student with the '
                    "teacher's layer shape, no shared layers and at most as "
                    'many layers')
  if (o.hidden_weight or o.attention_weight) and (
      m.share_layers != 'none' or t.share_layers != 'none'):
    problems.append('intermediate-layer distillation needs unshared layers')
  if o.attention_weight and m.num_heads != t.num_heads:
    problems.append(f'attention matching needs as many heads as the teacher '
                    f'({t.num_heads}), the student has {m.num_heads}')
  if config.data.seq_len > t.max_positions:
    problems.append(f'data.seq_len {config.data.seq_len} exceeds the '
                    f"teacher's max_positions {t.max_positions}")
  if problems:
    raise InputError('; '.join(problems))


def build_model(config, vocab_size: int, deterministic: bool
                ) -> DistillationModel:
  teacher = mlm.build_model(teacher_config(config), vocab_size,
                            deterministic=True)
  o = config.objective
  return DistillationModel(
      student=mlm.build_model(config, vocab_size, deterministic),
      teacher=teacher, project_hidden=o.hidden_weight > 0)


def restore_frozen(config, abstract_frozen, vocab_id: str) -> dict:
  checkpointer, step, meta = open_workdir(config.teacher_checkpoint)
  try:
    if meta.get('vocab_id') != vocab_id:
      raise InputError(f'the teacher at {config.teacher_checkpoint} was '
                       'trained with a different vocabulary than this run')
    return {TEACHER: checkpointer.restore_params(step, abstract_frozen[TEACHER])}
  finally:
    checkpointer.close()


def init_from_frozen(params, frozen, config):
  """The student's embeddings, MLM head and layers copied from the teacher."""
  if not config.objective.init_from_teacher:
    return params
  teacher = frozen[TEACHER]
  pick = teacher_layers(config.model.num_layers,
                        teacher_config(config).model.num_layers)

  def copy(path, student_leaf):
    keys = [k.key for k in path]
    node = teacher
    for key in keys[1:]:  # below 'student'
      if not isinstance(node, dict) or key not in node:
        return student_leaf  # e.g. no token-type table in the student
      node = node[key]
    if 'layers' in keys:
      node = node[pick]
    return node if node.shape == student_leaf.shape else student_leaf

  student = jax.tree_util.tree_map_with_path(copy, {'student': params['student']})
  return dict(params, **student)


def _intermediates(tree, name):
  """[layers, ...] of a sown intermediate of an unshared encoder."""
  return tree['encoder']['layers'][name][0] if name == 'hidden_states' else (
      tree['encoder']['layers']['attention'][name][0])


def _forward(model: DistillationModel, params, batch, rng, objective_cfg):
  """Student and teacher on the same masked input: final states and logits at
  every position, and the sown per-layer intermediates when matched."""
  o = objective_cfg
  all_positions_BxL = jnp.broadcast_to(
      jnp.arange(batch['input_ids'].shape[1]), batch['input_ids'].shape)

  def forward(m: DistillationModel):
    inputs = (batch['masked_input_ids'], batch['segment_ids'],
              batch['input_mask'])
    h_s, h_t = m.student.encode(*inputs), m.teacher.encode(*inputs)
    return dict(h_s=h_s, h_t=h_t,
                logits_s=m.student.mlm_logits(h_s, all_positions_BxL),
                logits_t=m.teacher.mlm_logits(h_t, all_positions_BxL))

  variables = {'params': params}
  rngs = {'dropout': rng}
  if o.hidden_weight == 0 and o.attention_weight == 0:
    return model.apply(variables, method=forward, rngs=rngs), None
  out, state = model.apply(variables, method=forward, rngs=rngs,
                           mutable=['intermediates'])
  return out, state['intermediates']


def loss(model: DistillationModel, params, batch, rng, objective_cfg):
  """`params` holds the student and the (frozen) teacher."""
  o = objective_cfg
  out, inter = _forward(model, params, batch, rng, o)
  token_BxL = batch['input_mask'].astype(jnp.float32)
  tokens = jnp.sum(token_BxL) + 1e-6
  logits_t = jax.lax.stop_gradient(out['logits_t'])
  h_t = jax.lax.stop_gradient(out['h_t']).astype(jnp.float32)
  h_s = out['h_s'].astype(jnp.float32)

  temperature = o.distill_temperature
  log_p_t = jax.nn.log_softmax(logits_t / temperature, -1)
  log_p_s = jax.nn.log_softmax(out['logits_s'] / temperature, -1)
  kl_BxL = jnp.sum(jnp.exp(log_p_t) * (log_p_t - log_p_s), -1)
  kl = jnp.sum(token_BxL * kl_BxL) / tokens * temperature ** 2

  positions = batch['masked_lm_positions'][..., None]
  logits_BxNxV = jnp.take_along_axis(out['logits_s'], positions, axis=1)
  mlm_metrics = sums_lib.means(sums_lib.prediction_sums(
      'mlm', logits_BxNxV, batch['masked_lm_ids'], batch['masked_lm_weights']),
                               mlm.MLM_EPS)

  cos_BxL = jnp.sum(h_s * h_t, -1) / (
      jnp.linalg.norm(h_s, axis=-1) * jnp.linalg.norm(h_t, axis=-1) + 1e-8)
  cosine = jnp.sum(token_BxL * (1.0 - cos_BxL)) / tokens

  total = (o.kl_weight * kl + o.mlm_weight * mlm_metrics['mlm_loss']
           + o.cosine_weight * cosine)
  metrics = dict(mlm_metrics, kl_loss=kl, cosine_loss=cosine)
  if inter is not None:
    t_layers = _intermediates(inter['teacher'], 'hidden_states').shape[0]
    s_layers = _intermediates(inter['student'], 'hidden_states').shape[0]
    match = matched_layers(s_layers, t_layers)
    if o.hidden_weight > 0:
      hs_s = _intermediates(inter['student'], 'hidden_states')
      hs_t = jax.lax.stop_gradient(
          _intermediates(inter['teacher'], 'hidden_states')[match])
      projected = model.apply({'params': params}, hs_s.astype(jnp.float32),
                              method=lambda m, x: m.hidden_projection(x))
      se_LxBxL = jnp.mean((projected - hs_t.astype(jnp.float32)) ** 2, -1)
      hidden = jnp.sum(token_BxL * se_LxBxL) / (tokens * s_layers)
      total = total + o.hidden_weight * hidden
      metrics['hidden_loss'] = hidden
    if o.attention_weight > 0:
      a_s = _intermediates(inter['student'], 'attention_scores')
      a_t = jax.lax.stop_gradient(
          _intermediates(inter['teacher'], 'attention_scores')[match])
      pair_BxLxL = token_BxL[:, :, None] * token_BxL[:, None, :]
      se = jnp.mean((a_s - a_t) ** 2, axis=2)  # over heads: [layers, B, L, L]
      attention = jnp.sum(pair_BxLxL * se) / (
          jnp.sum(pair_BxLxL) * s_layers + 1e-6)
      total = total + o.attention_weight * attention
      metrics['attention_loss'] = attention
  return total, dict(metrics, loss=total)


def evaluate(model: DistillationModel, params, batch, rng, objective_cfg):
  """The student's held-out MLM figures (the teacher takes no part)."""
  del rng
  return mlm.head_sums(model.student, params['student'], batch, None,
                       objective_cfg), {}


OBJECTIVE = Objective(
    name='distillation', build_model=build_model, init_inputs=mlm.init_inputs,
    loss=loss, evaluate=evaluate,
    make_example_builder=mlm.make_example_builder,
    examples_id=mlm.examples_id, make_masker=mlm.make_masker,
    make_synthetic_batch=mlm.make_synthetic_batch, check=check,
    frozen=lambda config: lambda path: path[0] == TEACHER,
    restore_frozen=restore_frozen,
    init_from_frozen=init_from_frozen,
    backbone_paths=lambda config: mlm.backbone_paths(config, ('student',)))
