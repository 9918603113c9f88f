"""Causal language modelling: GPT-1 and GPT-2 pretraining (algorithms.md
§1.10, §2.5, §5 pitfalls 25-26).

Rows are a packed token stream (`data_pipelines/packed_examples.py`): the
documents joined by an end-of-text token, no padding. logits[:, t] predict
ids[:, t + 1]; the loss is the mean NLL over every predicted real token of
the batch (a row of L tokens gives L - 1 predictions). Held-out padding rows
(input_mask 0) count nothing.
"""
import functools

import jax.numpy as jnp
import numpy as np

from data_pipelines import packed_examples
from data_pipelines.tf_cpu import tf as tf_module
from lm_jax.errors import InputError
from lm_jax.models.gpt import CausalLM
from lm_jax.models.model_config import from_model_config
from lm_jax.objectives import Objective
from lm_jax.objectives import sums as sums_lib

EPS = 1e-5  # denominator guard of the mean


def check(config) -> None:
  m, problems = config.model, []
  if not m.causal:
    problems.append('objective causal_lm needs model.causal=True (start from '
                    'lm_jax.config_base.causal_lm_config, as configs/gpt2_small.py '
                    'does)')
  if m.embedding_size != m.hidden_size:
    problems.append(f'objective causal_lm ties its output layer to the word '
                    f'table: model.embedding_size ({m.embedding_size}) must '
                    f'equal model.hidden_size ({m.hidden_size})')
  if m.share_layers != 'none':
    problems.append('objective causal_lm needs model.share_layers=none (cached '
                    'decoding runs unshared layers)')
  if problems:
    raise InputError('; '.join(problems))


def build_model(config, vocab_size: int, deterministic: bool) -> CausalLM:
  return CausalLM(from_model_config(config.model, vocab_size), deterministic)


def init_inputs(config) -> tuple:
  ids = jnp.zeros((1, config.data.seq_len), jnp.int32)
  return ids, jnp.ones_like(ids)


def next_token_targets(ids_BxL, input_mask_BxL):
  """(targets [B, L-1], weights [B, L-1]): position t predicts token t + 1,
  counted where both are real tokens."""
  mask_BxL = input_mask_BxL.astype(jnp.float32)
  return ids_BxL[:, 1:], mask_BxL[:, 1:] * mask_BxL[:, :-1]


def lm_sums(model: CausalLM, params, batch: dict, rng) -> dict:
  """'lm_loss' and 'lm_accuracy' as (Σ weight·value, Σ weight)."""
  rngs = {'dropout': rng} if rng is not None else {}
  logits_BxLxV = model.apply({'params': params}, batch['input_ids'],
                             batch['input_mask'], rngs=rngs)
  targets_BxT, weights_BxT = next_token_targets(batch['input_ids'],
                                                batch['input_mask'])
  return sums_lib.prediction_sums('lm', logits_BxLxV[:, :-1], targets_BxT,
                                  weights_BxT)


def loss(model, params, batch, rng, objective_cfg):
  del objective_cfg
  metrics = sums_lib.means(lm_sums(model, params, batch, rng), EPS)
  total = metrics['lm_loss']
  return total, dict(metrics, loss=total, perplexity=jnp.exp(total))


def evaluate(model, params, batch, rng, objective_cfg):
  del rng, objective_cfg
  return lm_sums(model, params, batch, None), {}


def make_example_builder(config, tokenizer):
  # Lines are tokenized one by one: the line break between them is put back,
  # so the stream is the documents' text (GPT-2's '\n' token; nothing for
  # SentencePiece, whose pieces carry their spaces).
  return functools.partial(packed_examples.PackedExampleBuilder,
                           config.data.seq_len, tokenizer.eot_id,
                           line_break_ids=tokenizer.encode('\n'))


def causal_inputs(example: dict, example_index) -> dict:
  """A packed row as the model's input: every token real."""
  del example_index  # nothing is drawn at random
  ids = example['input_ids']
  return {'input_ids': ids, 'input_mask': tf_module().ones_like(ids)}


def make_masker(config, tokenizer, store):
  del config, tokenizer, store
  return causal_inputs


def make_synthetic_batch(config, batch_size: int, seed) -> dict:
  """Random ids, every token real: the packed rows' invariants."""
  rng = np.random.default_rng(seed)
  ids = rng.integers(0, config.data.vocab_size,
                     (batch_size, config.data.seq_len), dtype=np.int32)
  return {'input_ids': ids, 'input_mask': np.ones_like(ids)}


OBJECTIVE = Objective(
    name='causal_lm', build_model=build_model, init_inputs=init_inputs,
    loss=loss, evaluate=evaluate, make_example_builder=make_example_builder,
    examples_id=lambda config: f'packed-v{packed_examples.VERSION}',
    make_masker=make_masker, make_synthetic_batch=make_synthetic_batch,
    check=check,
    # Fine-tuning (GPT-1 transfer) starts from the whole decoder.
    backbone_paths=lambda config: {'embeddings': ('embeddings',),
                                   'encoder': ('decoder',)})
