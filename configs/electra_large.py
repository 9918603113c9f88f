"""ELECTRA-Large (algorithms.md §1.9, §2.2, §3.3; Clark et al. 2020).

  python -m lm_jax.train --config=configs/electra_large.py --workdir=runs/electra_large

Discriminator H 1024, 24 layers, 16 heads, FFN 4096, E 1024 (334,092,288
parameters without heads); generator 1/4 of the hidden size (256); mask 25%
(N = 130 at 512); seq 512, batch 2048, lr 2e-4 with 10k warmup and linear
decay over 400k steps (the release trained 1.75M).

Variant `tiny`: a 2-layer CPU smoke run.
"""
from lm_jax.config_base import pretraining_config, set_shape, set_tiny, unknown_variant


def get_config(variant: str = ''):
  c = pretraining_config()
  set_shape(c, hidden=1024, layers=24)
  c.objective.generator_hidden_fraction = 0.25
  c.objective.mask_prob = 0.25
  c.data.seq_len = 512
  c.data.batch_size = 2048
  c.optim.learning_rate = 2e-4
  c.optim.warmup_steps = 10_000
  c.train.num_steps = 400_000
  if variant == 'tiny':
    set_tiny(c)
    c.objective.generator_hidden_fraction = 0.5
  elif variant:
    raise unknown_variant('electra_large.py', variant, 'tiny')
  return c
