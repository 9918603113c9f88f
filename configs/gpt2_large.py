"""GPT-2 Large: 36 layers of 1280, 20 heads, 774M parameters (§2.2); everything else as
configs/gpt2_small.py.

  python -m lm_jax.train --config=configs/gpt2_large.py --workdir=runs/gpt2_large
"""
from lm_jax.config_base import gpt2_config


def get_config(variant: str = ''):
  return gpt2_config('large', variant, 'gpt2_large.py')
