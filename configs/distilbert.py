"""DistilBERT: a 6-layer student distilled from a BERT teacher (algorithms.md
§1.11, §5 pitfall 30; Sanh et al. 2019).

  python -m lm_jax.train --config=configs/distilbert.py --workdir=runs/distilbert \
      --config.teacher_checkpoint=runs/bert_base

The teacher is an lm_jax mlm workdir (e.g. configs/bert_base.py): frozen, run
in the same step, its vocabulary read from its workdir. Student H 768, 6
layers, 12 heads, no token-type embeddings, no pooler (66,362,880
parameters), started from teacher layers [0, 2, 4, 7, 9, 11] plus its
embeddings and MLM head. Loss 5.0 * T^2 * KL (T = 2, every non-pad token) +
2.0 * MLM + 1.0 * (1 - cos) of the last hidden states; masking 15% of the
non-pad tokens, rarer tokens favoured (count^-0.7), 80/10/10; AdamW lr 5e-4,
betas (0.9, 0.98), eps 1e-6, no weight decay, 5% warmup, clip 5.0; about
three epochs of BookCorpus + Wikipedia at 2048 x 512.

TinyBERT-style intermediate distillation: --config.objective.hidden_weight=1
(student layers matched to teacher layers through a learned projection) and
--config.objective.attention_weight=1 (attention scores; same head count).

Variant `tiny`: a 1-layer student of a `bert_base.py:tiny` teacher.
"""
from lm_jax.config_base import pretraining_config, set_shape, set_tiny, unknown_variant


def get_config(variant: str = ''):
  c = pretraining_config()
  c.objective.name = 'distillation'
  c.objective.examples = 'segments'
  c.objective.sentence_task = 'none'
  c.objective.masking = 'smoothed'
  c.objective.mask_token_prob = 0.8
  c.objective.random_token_prob = 0.1
  c.objective.distill_temperature = 2.0
  c.objective.kl_weight = 5.0
  c.objective.mlm_weight = 2.0
  c.objective.cosine_weight = 1.0
  set_shape(c, hidden=768, layers=6)
  c.model.type_vocab_size = 0
  c.data.seq_len = 512
  c.data.batch_size = 2048
  c.optim.learning_rate = 5e-4
  c.optim.b2 = 0.98
  c.optim.eps = 1e-6
  c.optim.bias_correction = True
  c.optim.weight_decay = 0.0
  c.optim.clip_norm = 5.0
  c.optim.warmup = 'replace'
  c.train.num_steps = 15_000
  c.optim.warmup_steps = 750  # 5%
  if variant == 'tiny':
    set_tiny(c)
    c.model.num_layers = 1
    c.optim.warmup_steps = 15
  elif variant:
    raise unknown_variant('distilbert.py', variant, 'tiny')
  return c
