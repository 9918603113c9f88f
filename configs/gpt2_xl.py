"""GPT-2 Xl: 48 layers of 1600, 25 heads, 1.56B parameters (§2.2); everything else as
configs/gpt2_small.py.

  python -m lm_jax.train --config=configs/gpt2_xl.py --workdir=runs/gpt2_xl
"""
from lm_jax.config_base import gpt2_config


def get_config(variant: str = ''):
  return gpt2_config('xl', variant, 'gpt2_xl.py')
