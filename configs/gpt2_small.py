"""GPT-2 Small: 124M parameters, 12 layers of 768, 1024 context (§1.10, §2.5).

  python -m lm_jax.train --config=configs/gpt2_small.py --workdir=runs/gpt2_small
  python -m lm_jax.train --config=configs/gpt2_small.py:tiny --workdir=runs/gpt2_tiny

Pre-LN blocks with a final LayerNorm, tied output layer, byte-level BPE. The
GPT-2 vocabulary: --config.data.vocab_path=gpt2/tokenizer.json (or
gpt2/vocab.json with merges.txt beside it); left empty, a BPE vocabulary of
data.vocab_size entries is trained on the training text on first use.
Batch 512 x 1024 as the paper; learning rate and schedule from GPT-3's
table for this shape (lm_jax.config_base.causal_lm_config).

The keys most runs change are those of configs/electra_small.py
(train.num_steps, data.batch_size, data.seq_len, data.train_files,
data.vocab_path). The other sizes: gpt2_medium.py, gpt2_large.py,
gpt2_xl.py. Variant `tiny`: 2 layers of 64 on the embedded corpus, about a
minute on 2 CPU cores.
"""
from lm_jax.config_base import gpt2_config


def get_config(variant: str = ''):
  return gpt2_config('small', variant, 'gpt2_small.py')
