"""BERT-Large pretraining: BERT's recipe (configs/bert_base.py) at H 1024,
24 layers, 16 heads, FFN 4096 (335,141,888 parameters with the pooler; §2.2).

  python -m lm_jax.train --config=configs/bert_large.py --workdir=runs/bert_large

Variants: `wwm` (whole-word masking, §1.3), `tiny` (a 2-layer CPU smoke run).
"""
from lm_jax.config_base import (bert_pretraining_config, set_shape, set_tiny,
                                unknown_variant)


def get_config(variant: str = ''):
  c = bert_pretraining_config()
  set_shape(c, hidden=1024, layers=24)
  if variant == 'wwm':
    c.objective.masking = 'whole_word'
  elif variant == 'tiny':
    set_tiny(c)
  elif variant:
    raise unknown_variant('bert_large.py', variant, 'wwm, tiny')
  return c
