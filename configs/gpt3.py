"""The GPT-3 family (Brown et al. 2020, Table 2.1): GPT-2's block with dense
attention, 2048 context, the paper's batch sizes and learning rates.

  python -m lm_jax.train --config=configs/gpt3.py:1.3B --workdir=gs://BUCKET/gpt3_1.3B

Variants name the size: 125M, 350M, 760M, 1.3B, 2.7B, 6.7B, 13B, 175B (and
`tiny`). Each builds abstractly on a CPU, so a run can be planned and its
sharding chosen before renting the pod:

  python -m lm_jax.plan --config=configs/gpt3.py:175B

reports the parameter count (the paper's column is rounded: 350M, 1.3B
and 2.7B come out 1.7%, 1.2% and -1.8% off it with the table's shapes, the
others within 0.5%) and the bytes of parameters and optimizer
state. Training the large ones is for real pods: set mesh.fsdp / mesh.tensor
and model.remat ('full' or 'dots'), with model.compute_dtype=bfloat16.

Adam (0.9, 0.95, eps 1e-8), weight decay 0.1, clip 1.0, linear warmup over
the first 375M tokens, cosine decay to 10% of the peak, 300B tokens in all,
as the paper (which reached 10% at 260B tokens and held it for the last
40B; here the decay spans the whole run). The paper's alternating locally banded sparse layers are left out
(dense attention throughout, as the configs say). The paper's 1.3B lists 24
heads of 128 with d_model 2048, which would give 1.52B parameters: 1.3B
uses 16 heads of 128 (the count the paper reports). 13B has 40 heads of 128
in a width of 5140, as the table says (model.head_dim = 128).
"""
from lm_jax.config_base import (causal_lm_config, set_gpt_shape,
                                set_tiny_causal_lm, unknown_variant)

CONTEXT = 2048
WARMUP_TOKENS = 375e6
TRAINING_TOKENS = 300e9

# size: (layers, d_model, heads, batch in sequences of 2048 (the paper's
# 0.5M, 1M, 2M and 3.2M tokens), learning rate, the paper's parameter count)
SIZES = {
    '125M': (12, 768, 12, 256, 6.0e-4, 125e6),
    '350M': (24, 1024, 16, 256, 3.0e-4, 350e6),
    '760M': (24, 1536, 16, 256, 2.5e-4, 760e6),
    '1.3B': (24, 2048, 16, 512, 2.0e-4, 1.3e9),
    '2.7B': (32, 2560, 32, 512, 1.6e-4, 2.7e9),
    '6.7B': (32, 4096, 32, 1024, 1.2e-4, 6.7e9),
    '13B': (40, 5140, 40, 1024, 1.0e-4, 13.0e9),
    '175B': (96, 12288, 96, 1536, 0.6e-4, 175.0e9),
}


def get_config(variant: str = ''):
  c = causal_lm_config()
  if variant == 'tiny':
    set_tiny_causal_lm(c)
    return c
  if variant not in SIZES:
    raise unknown_variant('gpt3.py', variant, ', '.join([*SIZES, 'tiny']))
  layers, hidden, heads, batch, learning_rate, _ = SIZES[variant]
  set_gpt_shape(c, hidden=hidden, layers=layers, heads=heads, context=CONTEXT)
  c.model.head_dim = 128 if hidden % heads else 0
  c.data.seq_len = CONTEXT
  c.data.batch_size = batch
  c.optim.learning_rate = learning_rate
  c.optim.warmup_steps = round(WARMUP_TOKENS / (batch * CONTEXT))
  c.train.num_steps = round(TRAINING_TOKENS / (batch * CONTEXT))
  return c
