"""A pretrained body with one task head (algorithms.md §2.7).

The body is the pretraining model's encoder under the same parameter names
(`embeddings`, `encoder`, and BERT's `pooler` where pretraining trained one),
so a pretrained checkpoint's subtrees load as they are. Heads read the body's
final states `h_BxLxH`:
- 'sequence': one vector per input, the pooled [CLS] (BERT/ALBERT: tanh
  Dense, trained by NSP/SOP) or the raw h_[CLS] (ELECTRA), dropout, then
  Dense(num_outputs); num_outputs 1 for regression.
- 'token': dropout, Dense(num_outputs) at every position (tagging).
- 'span': Dense(2) at every position: start and end logits (SQuAD).
- 'choice': inputs [B, C, L] flattened to [B*C, L], the 'sequence' vector,
  dropout, Dense(1), back to one score per choice [B, C] (§5 pitfall 28).
Only the summary heads ('sequence', 'choice') use the pooler.
"""
import flax.linen as nn
import jax.numpy as jnp

from lm_jax.models.embeddings import Embeddings
from lm_jax.models.encoder import Encoder
from lm_jax.models.layers import normal_init, zeros_init
from lm_jax.models.model_config import TransformerConfig

HEADS = ('sequence', 'token', 'span', 'choice')


class FinetuneModel(nn.Module):
  config: TransformerConfig
  head: str  # one of HEADS
  num_outputs: int = 2
  use_pooler: bool = False  # BERT's tanh(Dense(h_[CLS])) before the classifier
  classifier_dropout: float = 0.1
  deterministic: bool = True

  def setup(self):
    cfg = self.config
    if self.head not in HEADS:
      raise ValueError(f'unknown head {self.head!r}; use {", ".join(HEADS)}')
    self.embeddings = Embeddings(cfg, self.deterministic)
    self.encoder = Encoder(cfg, self.deterministic)
    if self.use_pooler:
      self.pooler = nn.Dense(
          cfg.hidden_size, dtype=cfg.dtype, param_dtype=cfg.params_dtype,
          kernel_init=normal_init(cfg, ('embed', None)),
          bias_init=zeros_init((None,)))
    # BERT initialises its classifier with the truncated normal, ELECTRA
    # (no pooler) with Glorot uniform (§2.7).
    kernel_init = (normal_init(cfg, ('embed', None)) if self.use_pooler else
                   nn.with_logical_partitioning(
                       nn.initializers.glorot_uniform(), ('embed', None)))
    outputs = {'span': 2, 'choice': 1}.get(self.head, self.num_outputs)
    self.classifier = nn.Dense(
        outputs, dtype=jnp.float32, param_dtype=cfg.params_dtype,
        kernel_init=kernel_init, bias_init=zeros_init((None,)))
    self.dropout = nn.Dropout(self.classifier_dropout)

  def encode(self, ids_BxL, segment_ids_BxL, input_mask_BxL):
    """Final hidden states [B, L, H]."""
    return self.encoder(self.embeddings(ids_BxL, segment_ids_BxL),
                        input_mask_BxL)

  def summary(self, h_BxLxH):
    """One vector per input: the (pooled) state of [CLS]."""
    x_BxH = h_BxLxH[:, 0]
    if self.use_pooler:
      x_BxH = jnp.tanh(self.pooler(x_BxH))
    return x_BxH

  def __call__(self, ids, segment_ids, input_mask):
    """Head outputs, f32: [B, num_outputs] ('sequence'), [B, L, num_outputs]
    ('token'), [B, L, 2] ('span'), [B, C] ('choice', inputs [B, C, L])."""
    if self.head == 'choice':
      batch, choices, length = ids.shape
      flat = lambda x: x.reshape(batch * choices, length)
      x = self.summary(self.encode(flat(ids), flat(segment_ids),
                                   flat(input_mask)))
      x = self.dropout(x, deterministic=self.deterministic)
      return self.classifier(x)[:, 0].reshape(batch, choices)
    h_BxLxH = self.encode(ids, segment_ids, input_mask)
    if self.head == 'sequence':
      x = self.dropout(self.summary(h_BxLxH), deterministic=self.deterministic)
      return self.classifier(x)
    if self.head == 'token':
      x = self.dropout(h_BxLxH, deterministic=self.deterministic)
      return self.classifier(x)
    return self.classifier(h_BxLxH)
