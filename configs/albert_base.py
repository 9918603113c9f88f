"""ALBERT pretraining: factorised embeddings, one shared layer block, n-gram
masking and sentence-order prediction (algorithms.md §1.4, §1.8, §2.4, §3.3;
Lan et al. 2020).

  python -m lm_jax.train --config=configs/albert_base.py --workdir=runs/albert_base
  python -m lm_jax.train --config=configs/albert_base.py:large --workdir=runs/albert_large

ALBERT-base v2: E 128 -> H 768, 12 layers all sharing one block (LayerNorms
included), 12 heads, FFN 3072, tanh GELU, dropout 0 (11,683,584 parameters
with the pooler). Sentence pairs with SOP (0 in order, 1 swapped); whole-word
n-gram masking, n <= 3 with p(n) ~ 1/n, 80/10/10 per token, at most 20
predictions; batch 4096 x 512, LAMB lr 0.00176 with 3,125 warmup steps then
linear decay over 125k steps.

Sharing is model.share_layers ('all' | 'attention' | 'ffn' | 'none') over
model.num_layer_groups groups (layer i uses group int(i * groups / layers)).

Variants: `large` (H 1024, 24 layers, 16 heads), `xlarge` (H 2048, 24 layers,
16 heads), `xxlarge` (H 4096, 12 layers, 64 heads, FFN 16384), `tiny` (a
2-layer CPU smoke run keeping the sharing and E < H).
"""
from lm_jax.config_base import (pretraining_config, set_shape, set_tiny,
                                unknown_variant)

SHAPES = {  # hidden, layers, heads
    '': (768, 12, 12), 'large': (1024, 24, 16), 'xlarge': (2048, 24, 16),
    'xxlarge': (4096, 12, 64)}


def get_config(variant: str = ''):
  c = pretraining_config()
  c.objective.name = 'mlm'
  c.objective.examples = 'pairs'
  c.objective.sentence_task = 'sop'
  c.objective.short_seq_prob = 0.1
  c.objective.masking = 'ngram'
  c.objective.ngram_max = 3
  c.objective.mask_token_prob = 0.8
  c.objective.random_token_prob = 0.1
  c.objective.max_predictions = 20
  c.model.share_layers = 'all'
  c.model.num_layer_groups = 1
  c.model.projection_init = 'truncated_normal'  # embedding_hidden_mapping_in
  c.model.activation = 'gelu_tanh'  # gelu_new
  c.model.dropout_rate = 0.0  # v2
  c.model.attention_dropout_rate = 0.0
  c.data.vocab_size = 30000
  c.data.seq_len = 512
  c.data.batch_size = 4096
  c.optim.learning_rate = 0.00176
  c.optim.warmup_steps = 3125
  c.optim.warmup = 'replace'
  c.optim.trust_ratio = True  # LAMB
  c.train.num_steps = 125_000
  if variant == 'tiny':
    set_tiny(c, embedding=32)
  elif variant in SHAPES:
    hidden, layers, heads = SHAPES[variant]
    set_shape(c, hidden=hidden, layers=layers, embedding=128)
    c.model.num_heads = heads
  else:
    raise unknown_variant('albert_base.py', variant,
                          'large, xlarge, xxlarge, tiny')
  return c
