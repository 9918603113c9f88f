"""ELECTRA replaced-token detection (algorithms.md §1.9).

loss = generator_weight * MLM + discriminator_weight * RTD (1.0 and 50.0):
the generator predicts the masked tokens; a Gumbel-max sample of its logits
(under stop_gradient, so the discriminator loss never reaches the generator)
replaces every selected position of the *original* input; the discriminator
labels each real token as replaced-and-different or not.
"""
import functools

import jax
import jax.numpy as jnp
import optax

# Importing these never imports TensorFlow; the masker does when it runs.
from data_pipelines import electra_examples, masking, synthetic
from lm_jax.models.electra import ElectraModel
from lm_jax.models.model_config import TransformerConfig, scaled_generator
from lm_jax.objectives import Objective


def encoder_config(config, vocab_size: int) -> TransformerConfig:
  m = config.model
  return TransformerConfig(
      vocab_size=vocab_size, hidden_size=m.hidden_size,
      num_layers=m.num_layers, num_heads=m.num_heads,
      intermediate_size=m.intermediate_size, embedding_size=m.embedding_size,
      max_positions=m.max_positions, type_vocab_size=m.type_vocab_size,
      dropout_rate=m.dropout_rate,
      attention_dropout_rate=m.attention_dropout_rate, activation=m.activation,
      layer_norm_eps=m.layer_norm_eps, init_std=m.init_std,
      compute_dtype=m.compute_dtype, param_dtype=m.param_dtype, remat=m.remat)


def build_model(config, vocab_size: int, deterministic: bool) -> ElectraModel:
  disc = encoder_config(config, vocab_size)
  gen = scaled_generator(disc, config.objective.generator_hidden_fraction,
                         config.objective.generator_layer_fraction)
  return ElectraModel(disc, gen, deterministic)


def init_inputs(config) -> tuple:
  ids = jnp.zeros((1, config.data.seq_len), jnp.int32)
  positions = jnp.zeros(
      (1, masking.max_predictions(config.objective.mask_prob,
                                  config.data.seq_len)),
      jnp.int32)
  return ids, ids, jnp.ones_like(ids), positions


def replace_tokens(ids_BxL, input_mask_BxL, positions_BxN, weights_BxN,
                   sampled_BxN):
  """The discriminator's input and labels.

  The original tokens with every selected position (weight 1) set to its
  sample; label 1 only where the token really changed, so a sample equal to
  the original counts as real. Unused slots (weight 0) are dropped.
  """
  length = ids_BxL.shape[1]
  scatter_BxN = jnp.where(weights_BxN > 0, positions_BxN, length)
  rows_Bx1 = jnp.arange(ids_BxL.shape[0])[:, None]
  fake_BxL = ids_BxL.at[rows_Bx1, scatter_BxN].set(sampled_BxN, mode='drop')
  replaced_BxL = (fake_BxL != ids_BxL) & (input_mask_BxL > 0)
  return fake_BxL, replaced_BxL


def loss(model: ElectraModel, params, batch: dict, rng: jax.Array,
         objective_cfg) -> tuple[jax.Array, dict]:
  gen_rng, sample_rng, disc_rng = jax.random.split(rng, 3)
  ids_BxL = batch['input_ids']
  segments_BxL, input_mask_BxL = batch['segment_ids'], batch['input_mask']
  positions_BxN = batch['masked_lm_positions']
  weights_BxN = batch['masked_lm_weights']
  targets_BxN = batch['masked_lm_ids']

  # Generator: MLM over the selected positions, mean over real predictions.
  logits_BxNxV = model.apply(
      {'params': params}, batch['masked_input_ids'], segments_BxL,
      input_mask_BxL, positions_BxN, method=ElectraModel.generator_logits,
      rngs={'dropout': gen_rng})
  nll_BxN = optax.softmax_cross_entropy_with_integer_labels(
      logits_BxNxV, targets_BxN)
  mlm_loss = jnp.sum(weights_BxN * nll_BxN) / (jnp.sum(weights_BxN) + 1e-6)
  mlm_correct = jnp.argmax(logits_BxNxV, -1) == targets_BxN

  # Gumbel-max: an exact categorical sample at temperature T.
  u_BxNxV = jax.random.uniform(sample_rng, logits_BxNxV.shape)
  gumbel_BxNxV = -jnp.log(-jnp.log(u_BxNxV + 1e-9) + 1e-9)
  sampled_BxN = jnp.argmax(
      jax.lax.stop_gradient(logits_BxNxV) / objective_cfg.temperature
      + gumbel_BxNxV, axis=-1).astype(ids_BxL.dtype)

  fake_BxL, replaced_BxL = replace_tokens(
      ids_BxL, input_mask_BxL, positions_BxN, weights_BxN, sampled_BxN)

  disc_logits_BxL = model.apply(
      {'params': params}, fake_BxL, segments_BxL, input_mask_BxL,
      method=ElectraModel.discriminator_logits, rngs={'dropout': disc_rng})
  token_mask_BxL = input_mask_BxL.astype(jnp.float32)
  disc_xent_BxL = optax.sigmoid_binary_cross_entropy(
      disc_logits_BxL, replaced_BxL.astype(jnp.float32))
  num_tokens = jnp.sum(token_mask_BxL)
  disc_loss = jnp.sum(token_mask_BxL * disc_xent_BxL) / (num_tokens + 1e-6)
  disc_correct = (disc_logits_BxL > 0) == replaced_BxL

  total = (objective_cfg.generator_weight * mlm_loss
           + objective_cfg.discriminator_weight * disc_loss)
  metrics = {
      'loss': total,
      'mlm_loss': mlm_loss,
      'mlm_accuracy': jnp.sum(weights_BxN * mlm_correct) / (jnp.sum(weights_BxN) + 1e-6),
      'disc_loss': disc_loss,
      'disc_accuracy': jnp.sum(token_mask_BxL * disc_correct) / (num_tokens + 1e-6),
      'replaced_fraction': jnp.sum(replaced_BxL) / (num_tokens + 1e-6),
  }
  return total, metrics


def make_example_builder(config, tokenizer):
  return functools.partial(
      electra_examples.ElectraExampleBuilder, config.data.seq_len, cls_id=tokenizer.cls_id,
      sep_id=tokenizer.sep_id, pad_id=tokenizer.pad_id)


def make_masker(config, tokenizer):
  return functools.partial(
      masking.electra_mask, seed=config.data.seed,
      mask_prob=config.objective.mask_prob,
      mask_token_prob=config.objective.mask_token_prob,
      pad_id=tokenizer.pad_id, cls_id=tokenizer.cls_id,
      sep_id=tokenizer.sep_id, mask_id=tokenizer.mask_id)


def make_synthetic_batch(config, batch_size: int, seed) -> dict:
  return synthetic.electra_batch(
      batch_size, config.data.seq_len, config.data.vocab_size,
      config.objective.mask_prob, config.objective.mask_token_prob, seed=seed)


OBJECTIVE = Objective(
    name='electra', build_model=build_model, init_inputs=init_inputs,
    loss=loss, make_example_builder=make_example_builder,
    examples_id=f'electra-v{electra_examples.VERSION}', make_masker=make_masker,
    make_synthetic_batch=make_synthetic_batch)
