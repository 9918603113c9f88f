"""SpanBERT-Base pretraining: geometric span masking and the span boundary
objective, single segments, no NSP (algorithms.md §1.5, §1.6, §3.3; Joshi et
al. 2020, the settings of the paper's run, not the code's task defaults).

  python -m lm_jax.train --config=configs/spanbert_base.py --workdir=runs/spanbert

BERT-Base shape (H 768, 12 layers, exact GELU); blocks of whole sentences up
to 510 tokens from one document; spans of Geo(0.2) whole words in [1, 10]
(mean 3.8) until ceil(15%) of the block, one 80/10/10 decision per span with
random tokens from the corpus unigram distribution; SBO from the two tokens
outside each span and a 200-d offset table of 15 rows, weight 1.0; cased
text (data.lowercase False; a cased vocabulary); batch 256 x 512, lr 1e-4,
10k warmup, linear decay over 2.4M steps, Adam with bias correction, eps
1e-8, weight decay 0.01 on every parameter, clip 1.0.

Variant `tiny`: a 2-layer CPU smoke run.
"""
from lm_jax.config_base import pretraining_config, set_shape, set_tiny, unknown_variant


def get_config(variant: str = ''):
  c = pretraining_config()
  c.objective.name = 'mlm'
  c.objective.examples = 'blocks'
  c.objective.short_seq_prob = 0.0
  c.objective.sentence_task = 'none'
  c.objective.masking = 'span'
  c.objective.span_geometric_p = 0.2
  c.objective.span_lower = 1
  c.objective.span_upper = 10
  c.objective.mask_token_prob = 0.8
  c.objective.random_token_prob = 0.1
  c.objective.sbo_weight = 1.0
  c.objective.sbo_max_targets = 15
  c.objective.sbo_position_size = 200
  set_shape(c, hidden=768, layers=12)
  c.model.activation = 'gelu'
  c.data.lowercase = False
  c.data.vocab_size = 28996
  c.data.seq_len = 512
  c.data.batch_size = 256
  c.optim.learning_rate = 1e-4
  c.optim.warmup_steps = 10_000
  c.optim.warmup = 'replace'
  c.optim.bias_correction = True
  c.optim.eps = 1e-8
  c.optim.decay_all_params = True
  c.train.num_steps = 2_400_000
  if variant == 'tiny':
    set_tiny(c)
  elif variant:
    raise unknown_variant('spanbert_base.py', variant, 'tiny')
  return c
