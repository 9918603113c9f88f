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
from lm_jax.errors import InputError
from lm_jax.models.electra import ElectraModel
from lm_jax.models.model_config import from_model_config, scaled_generator
from lm_jax.objectives import Objective
from lm_jax.objectives import sums as sums_lib


def build_model(config, vocab_size: int, deterministic: bool) -> ElectraModel:
  disc = from_model_config(config.model, vocab_size)
  gen = scaled_generator(disc, config.objective.generator_hidden_fraction,
                         config.objective.generator_layer_fraction)
  return ElectraModel(disc, gen, deterministic,
                      share_embeddings=config.objective.share_embeddings)


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


def _forward(model: ElectraModel, params, batch: dict, rng: jax.Array,
             objective_cfg, deterministic: bool):
  """Both halves on one batch: each head's (Σ w·value, Σ w) and the
  discriminator's logits, labels and token mask."""
  gen_rng, sample_rng, disc_rng = jax.random.split(rng, 3)
  rngs = lambda r: {} if deterministic else {'dropout': r}
  ids_BxL = batch['input_ids']
  segments_BxL, input_mask_BxL = batch['segment_ids'], batch['input_mask']
  positions_BxN = batch['masked_lm_positions']
  weights_BxN = batch['masked_lm_weights']
  targets_BxN = batch['masked_lm_ids']

  # Generator: MLM over the selected positions.
  logits_BxNxV = model.apply(
      {'params': params}, batch['masked_input_ids'], segments_BxL,
      input_mask_BxL, positions_BxN, method=ElectraModel.generator_logits,
      rngs=rngs(gen_rng))

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
      method=ElectraModel.discriminator_logits, rngs=rngs(disc_rng))
  token_mask_BxL = input_mask_BxL.astype(jnp.float32)
  disc_xent_BxL = optax.sigmoid_binary_cross_entropy(
      disc_logits_BxL, replaced_BxL.astype(jnp.float32))
  disc_correct_BxL = (disc_logits_BxL > 0) == replaced_BxL
  sums = sums_lib.prediction_sums('mlm', logits_BxNxV, targets_BxN,
                                  weights_BxN)
  sums.update(
      disc_loss=sums_lib.weighted(disc_xent_BxL, token_mask_BxL),
      disc_accuracy=sums_lib.weighted(disc_correct_BxL, token_mask_BxL),
      replaced_fraction=sums_lib.weighted(replaced_BxL, token_mask_BxL))
  return sums, (disc_logits_BxL, replaced_BxL, token_mask_BxL)


def loss(model: ElectraModel, params, batch: dict, rng: jax.Array,
         objective_cfg) -> tuple[jax.Array, dict]:
  sums, _ = _forward(model, params, batch, rng, objective_cfg,
                     deterministic=False)
  metrics = sums_lib.means(sums, 1e-6)
  total = (objective_cfg.generator_weight * metrics['mlm_loss']
           + objective_cfg.discriminator_weight * metrics['disc_loss'])
  return total, dict(metrics, loss=total)


def evaluate(model: ElectraModel, params, batch: dict, rng: jax.Array,
             objective_cfg):
  """Held-out sums and the replaced-token scores (for the AUC); generator
  samples come from `rng`, fixed by the caller so every run draws the same."""
  sums, (logits_BxL, replaced_BxL, mask_BxL) = _forward(
      model, params, batch, rng, objective_cfg, deterministic=True)
  return sums, {'disc_auc': (logits_BxL, replaced_BxL, mask_BxL)}


def check(config) -> None:
  o = config.objective
  if o.random_token_prob:
    raise InputError('ELECTRA masking has no random-token replacement '
                     '(§1.9): set objective.random_token_prob=0')
  if o.examples != 'segments':
    raise InputError(f'the electra objective builds its own examples; '
                     f'objective.examples={o.examples!r} is for mlm')


def make_example_builder(config, tokenizer):
  return functools.partial(
      electra_examples.ElectraExampleBuilder, config.data.seq_len, cls_id=tokenizer.cls_id,
      sep_id=tokenizer.sep_id, pad_id=tokenizer.pad_id)


def make_masker(config, tokenizer, store):
  del store
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
    loss=loss, evaluate=evaluate, make_example_builder=make_example_builder,
    examples_id=lambda config: f'electra-v{electra_examples.VERSION}',
    make_masker=make_masker, make_synthetic_batch=make_synthetic_batch,
    check=check,
    # Fine-tuning starts from the discriminator (§2.7).
    backbone_paths=lambda config: {'embeddings': ('embeddings',),
                                   'encoder': ('discriminator',)})
