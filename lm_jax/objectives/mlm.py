"""Masked-LM pretraining of one encoder: BERT, ALBERT and SpanBERT
(algorithms.md §1.1-1.8).

loss = MLM + sentence task (NSP or SOP, unweighted) + sbo_weight * SBO.
Each head's loss is a weighted mean over the whole batch: Σ w·NLL / (Σ w +
1e-5) for MLM and SBO (§1.2, §5 pitfall 20), a mean over real rows for the
sentence task. The family members differ in their config only:

  BERT      examples 'pairs', sentence_task 'nsp', masking 'token' (80/10/10)
            or 'whole_word'
  ALBERT    examples 'pairs', sentence_task 'sop', masking 'ngram', shared
            layers and E < H in the model section
  SpanBERT  examples 'blocks', masking 'span', sbo_weight 1.0
  ELECTRA's BERT baseline: examples 'segments', masking 'token' 85/15/0
"""
import functools

import jax.numpy as jnp
import numpy as np

# Importing these never imports TensorFlow; the masker does when it runs.
from data_pipelines import (block_examples, electra_examples, masking,
                            mlm_masking, pair_examples)
from lm_jax.errors import InputError
from lm_jax.models.bert import BertModel
from lm_jax.models.model_config import from_model_config
from lm_jax.objectives import Objective
from lm_jax.objectives import sums as sums_lib

MLM_EPS = 1e-5  # BERT's denominator guard

BUILDERS = {'segments': electra_examples, 'pairs': pair_examples,
            'blocks': block_examples}
MASKINGS = ('token', 'whole_word', 'ngram', 'span', 'smoothed')
SENTENCE_TASKS = ('nsp', 'sop', 'none')


def masker_kind(objective_cfg) -> str:
  """The numpy masker: whole-word and n-gram are 'token' over word units."""
  return objective_cfg.masking if objective_cfg.masking in ('span',
                                                            'smoothed') else 'token'


def num_slots(config) -> int:
  o = config.objective
  return mlm_masking.num_slots(masker_kind(o), o.mask_prob, config.data.seq_len,
                               max_predictions(config))


def max_predictions(config) -> int:
  o = config.objective
  return o.max_predictions or masking.max_predictions(o.mask_prob,
                                                     config.data.seq_len)


def check(config) -> None:
  o, problems = config.objective, []
  if o.examples not in BUILDERS:
    problems.append(f'objective.examples must be one of {", ".join(BUILDERS)}, '
                    f'got {o.examples!r}')
  if o.masking not in MASKINGS:
    problems.append(f'objective.masking must be one of {", ".join(MASKINGS)}, '
                    f'got {o.masking!r}')
  if o.sentence_task not in SENTENCE_TASKS:
    problems.append(f'objective.sentence_task must be nsp, sop or none, got '
                    f'{o.sentence_task!r}')
  elif o.sentence_task != 'none' and o.examples != 'pairs':
    problems.append(f'objective.sentence_task={o.sentence_task} needs sentence '
                    f'pairs (objective.examples=pairs); {o.examples!r} builds '
                    'single-segment examples')
  if o.masking == 'span' and o.span_upper > config.data.seq_len - 2:
    problems.append(f'objective.span_upper {o.span_upper} is longer than the '
                    f'{config.data.seq_len - 2} tokens a sequence of '
                    f'data.seq_len {config.data.seq_len} holds')
  if o.masking == 'span' and not 1 <= o.span_lower <= o.span_upper:
    problems.append('objective.span_lower must be in [1, span_upper]')
  if o.sbo_weight > 0 and o.masking != 'span':
    problems.append('objective.sbo_weight > 0 needs objective.masking=span')
  if not 0 <= o.mask_token_prob + o.random_token_prob <= 1:
    problems.append('objective.mask_token_prob + random_token_prob must be '
                    'in [0, 1]')
  if o.masking == 'ngram' and o.ngram_max < 1:
    problems.append('objective.ngram_max must be >= 1')
  if problems:
    raise InputError('; '.join(problems))


def build_model(config, vocab_size: int, deterministic: bool) -> BertModel:
  o = config.objective
  return BertModel(
      from_model_config(config.model, vocab_size),
      sentence_head=o.sentence_task != 'none',
      sbo_max_targets=o.sbo_max_targets if o.sbo_weight > 0 else 0,
      sbo_position_size=o.sbo_position_size, deterministic=deterministic)


def init_inputs(config) -> tuple:
  ids = jnp.zeros((1, config.data.seq_len), jnp.int32)
  positions = jnp.zeros((1, num_slots(config)), jnp.int32)
  return ids, ids, jnp.ones_like(ids), positions


def head_sums(model: BertModel, params, batch: dict, rng, objective_cfg
              ) -> dict:
  """Each head's (Σ weight·value, Σ weight) over the batch."""
  task = objective_cfg.sentence_task

  def forward(m: BertModel):
    h_BxLxH = m.encode(batch['masked_input_ids'], batch['segment_ids'],
                       batch['input_mask'])
    out = {'mlm': m.mlm_logits(h_BxLxH, batch['masked_lm_positions'])}
    if m.sentence_head:
      out['sentence'] = m.sentence_logits(h_BxLxH)
    if m.sbo_max_targets:
      out['sbo'] = m.sbo_logits(h_BxLxH, batch['sbo_left'], batch['sbo_right'],
                                batch['sbo_relpos'])
    return out

  rngs = {'dropout': rng} if rng is not None else {}
  out = model.apply({'params': params}, method=forward, rngs=rngs)
  # SBO predicts the masked tokens again, from the span's boundaries.
  sums = sums_lib.prediction_sums('mlm', out['mlm'], batch['masked_lm_ids'],
                                  batch['masked_lm_weights'])
  if 'sbo' in out:
    sums.update(sums_lib.prediction_sums(
        'sbo', out['sbo'], batch['masked_lm_ids'], batch['sbo_weights']))
  if 'sentence' in out:
    real_B = batch['input_mask'][:, 0].astype(jnp.float32)  # not a pad row
    sums.update(sums_lib.prediction_sums(
        task, out['sentence'][:, None], batch['sentence_label'][:, None],
        real_B[:, None]))
  return sums


def loss(model, params, batch, rng, objective_cfg):
  metrics = sums_lib.means(head_sums(model, params, batch, rng, objective_cfg),
                           MLM_EPS)
  total = metrics['mlm_loss']
  task = objective_cfg.sentence_task
  if f'{task}_loss' in metrics:
    total = total + metrics[f'{task}_loss']
  if 'sbo_loss' in metrics:
    total = total + objective_cfg.sbo_weight * metrics['sbo_loss']
  return total, dict(metrics, loss=total)


def evaluate(model, params, batch, rng, objective_cfg):
  del rng
  return head_sums(model, params, batch, None, objective_cfg), {}


def examples_id(config) -> str:
  o = config.objective
  module = BUILDERS[o.examples]
  if o.examples == 'pairs':
    return (f'pairs-v{module.VERSION}-{o.sentence_task}-short{o.short_seq_prob}'
            f'-dupe{o.dupe_factor}')
  if o.examples == 'blocks':
    return f'blocks-v{module.VERSION}-short{o.short_seq_prob}'
  return f'electra-v{module.VERSION}'


def make_example_builder(config, tokenizer):
  o = config.objective
  ids = dict(cls_id=tokenizer.cls_id, sep_id=tokenizer.sep_id,
             pad_id=tokenizer.pad_id)
  if o.examples == 'pairs':
    return functools.partial(
        pair_examples.PairExampleBuilder, config.data.seq_len, **ids,
        task=o.sentence_task if o.sentence_task != 'none' else 'nsp',
        short_seq_prob=o.short_seq_prob, dupe_factor=o.dupe_factor)
  if o.examples == 'blocks':
    return functools.partial(block_examples.BlockExampleBuilder,
                             config.data.seq_len, **ids,
                             short_seq_prob=o.short_seq_prob)
  return functools.partial(electra_examples.ElectraExampleBuilder,
                           config.data.seq_len, **ids)


def numpy_masker(config, *, vocab_size, special_ids: dict, word_start_V=None,
                 token_counts_V=None):
  """The example masker in numpy, keyed by (data.seed, example index)."""
  o = config.objective
  return mlm_masking.make_masker(
      masker_kind(o), seq_len=config.data.seq_len, seed=config.data.seed,
      vocab_size=vocab_size, **special_ids, mask_prob=o.mask_prob,
      max_predictions=max_predictions(config), word_start_V=word_start_V,
      ngram_max=o.ngram_max if o.masking == 'ngram' else 1,
      mask_token_prob=o.mask_token_prob,
      random_token_prob=o.random_token_prob,
      span_geometric_p=o.span_geometric_p, span_lower=o.span_lower,
      span_upper=o.span_upper, max_pair_targets=o.sbo_max_targets,
      token_counts_V=token_counts_V)


def make_masker(config, tokenizer, store):
  o = config.objective
  # Word units for whole-word, n-gram and span masking; corpus counts for
  # SpanBERT's random tokens and DistilBERT's smoothing.
  words = o.masking in ('whole_word', 'ngram', 'span')
  counts = o.masking in ('span', 'smoothed')
  masker = numpy_masker(
      config, vocab_size=tokenizer.vocab_size,
      special_ids=dict(pad_id=tokenizer.pad_id, cls_id=tokenizer.cls_id,
                       sep_id=tokenizer.sep_id, mask_id=tokenizer.mask_id),
      word_start_V=mlm_masking.word_starts(tokenizer) if words else None,
      token_counts_V=store.token_counts(tokenizer.vocab_size) if counts else None)
  return mlm_masking.tf_masker(masker, seq_len=config.data.seq_len,
                               num_slots=num_slots(config),
                               with_sbo=o.masking == 'span')


# The synthetic vocabulary: SentencePiece's special-token layout.
_SYNTHETIC_IDS = dict(pad_id=0, cls_id=2, sep_id=3, mask_id=4)


def make_synthetic_batch(config, batch_size: int, seed) -> dict:
  """Random `[CLS] A [SEP] B [SEP]` rows through the real numpy masker."""
  rng = np.random.default_rng(seed)
  length, vocab = config.data.seq_len, config.data.vocab_size
  masker = numpy_masker(config, vocab_size=vocab, special_ids=_SYNTHETIC_IDS)
  rows = []
  for row in range(batch_size):
    ids = rng.integers(5, vocab, length, dtype=np.int32)
    cut = length // 2
    ids[0], ids[cut], ids[-1] = 2, 3, 3
    segments = (np.arange(length) > cut).astype(np.int32)
    example = dict(input_ids=ids, segment_ids=segments,
                   sentence_label=np.int32(rng.integers(0, 2)))
    rows.append(masker(example, int(rng.integers(0, 2**31)) + row))
  return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


OBJECTIVE = Objective(
    name='mlm', build_model=build_model, init_inputs=init_inputs, loss=loss,
    evaluate=evaluate, make_example_builder=make_example_builder,
    examples_id=examples_id, make_masker=make_masker,
    make_synthetic_batch=make_synthetic_batch, check=check,
    backbone_paths=lambda config: backbone_paths(config, ()))


def backbone_paths(config, prefix: tuple[str, ...]) -> dict:
  """The encoder and, with NSP/SOP, its pretrained pooler, under `prefix`."""
  paths = {'embeddings': prefix + ('embeddings',),
           'encoder': prefix + ('encoder',)}
  if config.objective.sentence_task != 'none':
    paths['pooler'] = prefix + ('sentence_classifier', 'pooler')
  return paths
