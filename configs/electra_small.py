"""ELECTRA-Small, the published recipe (algorithms.md §3.3).

  python -m lm_jax.train --config=configs/electra_small.py --workdir=runs/electra_small
  python -m lm_jax.train --config=configs/electra_small.py:tiny --workdir=runs/tiny

Discriminator H 256, 12 layers, 4 heads, FFN 1024, E 128; generator 1/4 of the
hidden size (the paper; set objective.generator_hidden_fraction=1.0 for the
released model); seq 128, batch 128, lr 5e-4 with 10k warmup and linear decay
over 1M steps, AdamW (eps 1e-6, wd 0.01, no bias correction), clip 1.0.

The keys most runs change (override with --config.<key>=<value>):
  train.num_steps    total steps, and the length of the LR schedule
  data.batch_size    global batch, over all hosts and devices
  data.seq_len       tokens per example
  data.train_files   comma-separated globs of .txt/.txt.gz files (default: the
                     embedded Gutenberg sample); or data.tfds_name for TFDS
  data.vocab_path    a SentencePiece .model or WordPiece vocab.txt (with
                     data.tokenizer); empty trains SentencePiece on the data

Variants: `released` (the public ELECTRA-Small: generator as large as the
discriminator, §1.9); `tiny` (a 2-layer model for a CPU smoke run in well
under a minute, checkpointing several times on the way).
"""
from lm_jax.config_base import pretraining_config, set_tiny, unknown_variant


def get_config(variant: str = ''):
  c = pretraining_config()
  # The recipe is the default of pretraining_config(); restated for the reader.
  c.model.hidden_size = 256
  c.model.num_layers = 12
  c.model.num_heads = 4
  c.model.intermediate_size = 1024
  c.model.embedding_size = 128
  c.objective.generator_hidden_fraction = 0.25
  c.data.seq_len = 128
  c.data.batch_size = 128
  c.optim.learning_rate = 5e-4
  c.optim.warmup_steps = 10_000
  c.train.num_steps = 1_000_000

  if variant == 'released':
    c.objective.generator_hidden_fraction = 1.0
  elif variant == 'tiny':
    set_tiny(c, embedding=32)
    c.objective.generator_hidden_fraction = 0.5
  elif variant:
    raise unknown_variant('electra_small.py', variant, 'released, tiny')
  return c
