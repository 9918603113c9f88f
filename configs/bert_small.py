"""BERT-Small, ELECTRA's own MLM baseline (algorithms.md §1.9 "ELECTRA-as-BERT",
§3.3): the ELECTRA-Small shape and recipe with the discriminator replaced by
a full-size MLM, so the two objectives compare at equal compute.

  python -m lm_jax.train --config=configs/bert_small.py --workdir=runs/bert_small

H 256, 12 layers, 4 heads, FFN 1024, E 128 (with a projection); ELECTRA's
examples and masking (15%, 85% [MASK] / 15% kept, no random tokens, no NSP);
batch 128 x 128, lr 5e-4 with 10k warmup and linear decay; ELECTRA ran this
baseline for 1.45M steps against its 1M.

Variant `tiny`: a 2-layer CPU smoke run.
"""
from lm_jax.config_base import pretraining_config, set_tiny, unknown_variant


def get_config(variant: str = ''):
  c = pretraining_config()  # ELECTRA-Small's shape, data and optimizer
  c.objective.name = 'mlm'
  c.objective.examples = 'segments'
  c.objective.sentence_task = 'none'
  c.objective.masking = 'token'
  c.objective.mask_token_prob = 0.85
  c.objective.random_token_prob = 0.0
  c.train.num_steps = 1_450_000
  if variant == 'tiny':
    set_tiny(c, embedding=32)
  elif variant:
    raise unknown_variant('bert_small.py', variant, 'tiny')
  return c
