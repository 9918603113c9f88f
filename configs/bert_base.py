"""BERT-Base pretraining: MLM + next-sentence prediction (algorithms.md §1.1,
§1.2, §1.7, §2.2, §3.3; Devlin et al. 2019).

  python -m lm_jax.train --config=configs/bert_base.py --workdir=runs/bert_base
  python -m lm_jax.train --config=configs/bert_base.py:tiny --workdir=runs/tiny

H 768, 12 layers, 12 heads, FFN 3072 (109,482,240 parameters with the
pooler); document-aware sentence pairs, 50% random next (label 1), MLM 15%
with 80% [MASK] / 10% random / 10% kept per token; batch 256, lr 1e-4 with
10k warmup then linear decay over 1M steps; Adam without bias correction,
eps 1e-6, weight decay 0.01, clip 1.0.

BERT's 128-then-512 recipe: train at data.seq_len=128 (as here) to 900k
steps (--config.train.stop_at_step=900000), then run again on the same
workdir with --config.data.seq_len=512; the prediction budget follows the
length (objective.max_predictions 0 = int((p + 0.005) L): 19, then 79).

Variants: `wwm` (whole-word masking, §1.3), `tiny` (a 2-layer CPU smoke run).
"""
from lm_jax.config_base import bert_pretraining_config, set_tiny, unknown_variant


def get_config(variant: str = ''):
  c = bert_pretraining_config()  # the recipe, at Base size
  if variant == 'wwm':
    c.objective.masking = 'whole_word'
  elif variant == 'tiny':
    set_tiny(c)
  elif variant:
    raise unknown_variant('bert_base.py', variant, 'wwm, tiny')
  return c
