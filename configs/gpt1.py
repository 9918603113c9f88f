"""GPT-1 (Radford et al. 2018): 12 post-LN layers of 768, 512 context,
116.5M parameters with its 40,478-entry vocabulary (§1.10, §2.2, §2.5, §3.3).

  python -m lm_jax.train --config=configs/gpt1.py --workdir=runs/gpt1
  python -m lm_jax.train --config=configs/gpt1.py:tiny --workdir=runs/gpt1_tiny

Post-LN blocks (LN(x + f(x)), no final LayerNorm), learned positions, no
embedding LayerNorm, tanh GELU, LayerNorm eps 1e-5, every weight N(0, 0.02),
dropout 0.1, tied output layer. Adam (eps 1e-8, bias corrected), lr 2.5e-4
warmed up linearly over 2,000 steps, then cosine annealing to 0; weight
decay 0.01 on matrices only (not biases or gains); batch 64 x 512. The paper
trained 100 epochs of BooksCorpus: set train.num_steps to 100 epochs of your
corpus (the build log counts the examples). The vocabulary is byte-level BPE
of 40,478 entries, trained on the training text on first use (GPT-1's own
used a character-level BPE after ftfy and spaCy; give its files in
tokenizer.json form with data.vocab_path).

Fine-tune a GPT-1 workdir as the paper does (start / delimiter / extract
tokens, auxiliary LM loss 0.5) with lm_jax.finetune (configs/finetune/).

Variant `tiny`: 2 layers of 64 on the embedded corpus, about a minute on 2
CPU cores.
"""
from lm_jax.config_base import (causal_lm_config, set_gpt_shape,
                                set_tiny_causal_lm, unknown_variant)


def get_config(variant: str = ''):
  c = causal_lm_config()  # GPT-2's block; GPT-1's differences below
  set_gpt_shape(c, hidden=768, layers=12, heads=12, context=512)
  c.model.norm_position = 'post'
  c.model.position_init_std = 0.0  # N(0, 0.02) like every other weight
  c.model.scale_residual_init = False
  c.data.vocab_size = 40478
  c.data.seq_len = 512
  c.data.batch_size = 64
  # Cosine after 2,000 warmup steps, Adam eps 1e-8 with bias correction: as
  # GPT-2's recipe; the rest is GPT-1's own.
  c.optim.learning_rate = 2.5e-4
  c.optim.min_lr_fraction = 0.0
  c.optim.b2 = 0.999
  c.optim.weight_decay = 0.01
  c.train.num_steps = 1_000_000
  if variant == 'tiny':
    set_tiny_causal_lm(c)
  elif variant:
    raise unknown_variant('gpt1.py', variant, 'tiny')
  return c
