"""Fine-tuning objectives: one `Objective` per head family, trained by the
same `training.build` step as pretraining (algorithms.md §2.7, §5).

- 'classification': softmax cross entropy over num_labels (GLUE).
- 'regression': MSE on targets scaled to [0, 1] by `target_scale` (STS-B's
  0-5 scores / 5, as ELECTRA); outputs are scaled back.
- 'tagging': per-token cross entropy at first sub-tokens only (tags >= 0).
- 'span_qa': (CE_start + CE_end) / 2, each over the whole sequence (SQuAD).
- 'multiple_choice': one score per choice, softmax over the choices.

A causal body (GPT-1 transfer) adds the auxiliary language-model loss over
its input rows to the summary heads' losses: loss = head + lm_coef * LM,
lm_coef 0.5 (§2.7).

Every batch carries `weight` [B]: 1 for real rows, 0 for the padding rows
that fill the last evaluation batch. `evaluate` returns loss/accuracy sums
and the head's outputs per row; task metrics are computed on the host.
"""
import jax.numpy as jnp
import optax

from lm_jax.finetuning import peft
from lm_jax.finetuning.model import FinetuneModel
from lm_jax.models.model_config import from_model_config
from lm_jax.objectives import Objective
from lm_jax.objectives import sums as sums_lib

_HEAD = {'classification': 'sequence', 'regression': 'sequence',
         'tagging': 'token', 'span_qa': 'span', 'multiple_choice': 'choice'}

# Keys of a batch the model reads, per objective (the rest stay on the host).
BATCH_KEYS = {
    'classification': ('ids', 'segment_ids', 'input_mask', 'label', 'weight'),
    'regression': ('ids', 'segment_ids', 'input_mask', 'target', 'weight'),
    'tagging': ('ids', 'segment_ids', 'input_mask', 'tags', 'weight'),
    'span_qa': ('ids', 'segment_ids', 'input_mask', 'start_position',
                'end_position', 'weight'),
    'multiple_choice': ('ids', 'segment_ids', 'input_mask', 'label', 'weight'),
}


def build_model(config, vocab_size: int, deterministic: bool) -> FinetuneModel:
  o = config.objective
  head = _HEAD[o.name]
  return FinetuneModel(
      from_model_config(config.model, vocab_size), head=head,
      num_outputs=1 if o.name == 'regression' else o.num_labels,
      use_pooler=o.use_pooler and head in ('sequence', 'choice'),
      classifier_dropout=o.classifier_dropout, deterministic=deterministic)


def init_inputs(config) -> tuple:
  shape = (1, config.data.seq_len)
  if config.objective.name == 'multiple_choice':
    shape = (1, config.objective.num_choices, config.data.seq_len)
  ids = jnp.zeros(shape, jnp.int32)
  return ids, ids, jnp.ones_like(ids)


def _with_lm(model, objective_cfg) -> bool:
  return (model.config.causal and objective_cfg.lm_coef > 0
          and model.head in ('sequence', 'choice'))


def lm_sums(ids, input_mask, weight_B, lm_logits_RxLxV) -> dict:
  """'lm_loss' and 'lm_accuracy' sums of the next-token predictions over
  the real tokens of the rows (a choice head's rows are [B * C, L])."""
  ids_RxL = ids.reshape(lm_logits_RxLxV.shape[:2])
  mask_RxL = input_mask.reshape(ids_RxL.shape).astype(jnp.float32)
  rows_per_example = ids_RxL.shape[0] // weight_B.shape[0]
  weights_RxT = (mask_RxL[:, 1:] * mask_RxL[:, :-1]
                 * jnp.repeat(weight_B, rows_per_example)[:, None])
  return sums_lib.prediction_sums('lm', lm_logits_RxLxV[:, :-1],
                                  ids_RxL[:, 1:], weights_RxT)


def head_sums(model, params, batch: dict, rng, objective_cfg):
  """(Σ weight·value, Σ weight) of the loss and accuracy, and the outputs."""
  name = objective_cfg.name
  weight_B = batch['weight'].astype(jnp.float32)
  if _with_lm(model, objective_cfg):
    out, lm_logits = model.apply(
        {'params': params}, batch['ids'], batch['segment_ids'],
        batch['input_mask'], with_lm=True, rngs={'dropout': rng})
    sums, outputs = _head_sums(name, out, batch, weight_B, objective_cfg)
    sums.update(lm_sums(batch['ids'], batch['input_mask'], weight_B,
                        lm_logits))
    return sums, outputs
  out = model.apply({'params': params}, batch['ids'], batch['segment_ids'],
                    batch['input_mask'], rngs={'dropout': rng})
  return _head_sums(name, out, batch, weight_B, objective_cfg)


def _head_sums(name: str, out, batch: dict, weight_B, objective_cfg):
  if name == 'regression':
    prediction_B = out[:, 0]
    target_B = batch['target'] / objective_cfg.target_scale
    sums = {'loss': sums_lib.weighted((prediction_B - target_B) ** 2,
                                      weight_B)}
    return sums, {'prediction': prediction_B * objective_cfg.target_scale}
  if name in ('classification', 'multiple_choice'):
    sums = sums_lib.prediction_sums('', out[:, None], batch['label'][:, None],
                                    weight_B[:, None])
    return sums, {'logits': out}
  if name == 'tagging':
    tags_BxL = batch['tags']
    scored_BxL = (tags_BxL >= 0) * weight_B[:, None]
    sums = sums_lib.prediction_sums('', out, jnp.maximum(tags_BxL, 0),
                                    scored_BxL)
    return sums, {'predicted_tags': jnp.argmax(out, -1)}
  start_BxL, end_BxL = out[..., 0], out[..., 1]
  nll_B = 0.5 * (
      optax.softmax_cross_entropy_with_integer_labels(
          start_BxL, batch['start_position'])
      + optax.softmax_cross_entropy_with_integer_labels(
          end_BxL, batch['end_position']))
  both_right_B = ((jnp.argmax(start_BxL, -1) == batch['start_position'])
                  & (jnp.argmax(end_BxL, -1) == batch['end_position']))
  sums = {'loss': sums_lib.weighted(nll_B, weight_B),
          'span_accuracy': sums_lib.weighted(both_right_B, weight_B)}
  return sums, {'start_logits': start_BxL, 'end_logits': end_BxL}


def loss(model, params, batch: dict, rng, objective_cfg):
  sums, _ = head_sums(model, params, batch, rng, objective_cfg)
  metrics = sums_lib.means(sums, eps=1e-8)
  if 'lm_loss' in metrics:
    metrics['head_loss'] = metrics['loss']
    metrics['loss'] = metrics['loss'] + objective_cfg.lm_coef * metrics['lm_loss']
  return metrics['loss'], metrics


def evaluate(model, params, batch: dict, rng, objective_cfg):
  sums, outputs = head_sums(model, params, batch, rng, objective_cfg)
  outputs['weight'] = batch['weight']
  return sums, outputs


def _objective(name: str) -> Objective:
  return Objective(name=name, build_model=build_model, init_inputs=init_inputs,
                   loss=loss, evaluate=evaluate, frozen=peft.frozen_rule)


OBJECTIVES = {name: _objective(name) for name in _HEAD}


