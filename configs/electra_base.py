"""ELECTRA-Base (algorithms.md §1.9, §2.2, §3.3; Clark et al. 2020).

  python -m lm_jax.train --config=configs/electra_base.py --workdir=runs/electra_base

Discriminator H 768, 12 layers, 12 heads, FFN 3072, E 768 (108,891,648
parameters without heads); generator 1/3 of the hidden size (256, 4 heads)
sharing the embeddings; seq 512, batch 256, lr 2e-4 with 10k warmup and
linear decay over 766k steps; mask 15%, discriminator weight 50.

The §1.9 options are config keys: objective.share_embeddings=False gives the
generator its own embeddings, objective.generator_hidden_fraction and
generator_layer_fraction size it, objective.discriminator_weight and
temperature weigh and sample it.

Variant `tiny`: a 2-layer CPU smoke run.
"""
from lm_jax.config_base import pretraining_config, set_shape, set_tiny, unknown_variant


def get_config(variant: str = ''):
  c = pretraining_config()  # ELECTRA's objective and optimizer
  set_shape(c, hidden=768, layers=12)
  c.objective.generator_hidden_fraction = 1 / 3
  c.data.seq_len = 512
  c.data.batch_size = 256
  c.optim.learning_rate = 2e-4
  c.optim.warmup_steps = 10_000
  c.train.num_steps = 766_000
  if variant == 'tiny':
    set_tiny(c)
    c.objective.generator_hidden_fraction = 0.5
  elif variant:
    raise unknown_variant('electra_base.py', variant, 'tiny')
  return c
