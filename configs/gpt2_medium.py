"""GPT-2 Medium: 24 layers of 1024, 16 heads, 355M parameters (§2.2); everything else as
configs/gpt2_small.py.

  python -m lm_jax.train --config=configs/gpt2_medium.py --workdir=runs/gpt2_medium
"""
from lm_jax.config_base import gpt2_config


def get_config(variant: str = ''):
  return gpt2_config('medium', variant, 'gpt2_medium.py')
