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

Prefix tuning (§1.13) adds `prefix`: each layer's P keys and values, from
an MLP over a P x H table while training (`prefix_hidden` > 0), or the
folded values themselves (`key_values`, what a saved run keeps).

A causal body (GPT-1 transfer, §2.7, §3.4) reads rows `start A delimiter B
extract` whose three tokens are new: ids V, V+1, V+2 index
`transfer_embeddings`, trained from N(0, 0.02). Its summary is the state of
the extract token, the row's last real token; its classifier starts N(0,
0.02) as GPT-1's. `lm_logits` give the auxiliary language-model loss over
the same rows (tied to the word table and the new tokens).
"""
import math

import flax.linen as nn
import jax.numpy as jnp

from lm_jax.models.embeddings import Embeddings
from lm_jax.models.encoder import Encoder
from lm_jax.models.heads import tied_logits
from lm_jax.models.layers import normal_init, zeros_init
from lm_jax.models.model_config import TransformerConfig

HEADS = ('sequence', 'token', 'span', 'choice')
TRANSFER_TOKENS = 3  # a causal body's start, delimiter, extract


class Prefix(nn.Module):
  """Prefix keys and values for every layer, [layers, 2, P, heads, head_dim].

  While training (prefix_hidden > 0): Li & Liang's reparameterisation, a
  P x H table -> Dense(prefix_hidden) -> tanh -> Dense(layers * 2 * H),
  which trains more stably than the values themselves; folded afterwards
  into `key_values` (prefix_hidden = 0), all inference needs.
  """
  config: TransformerConfig

  @nn.compact
  def __call__(self):
    cfg = self.config
    shape = (cfg.num_layers, 2, cfg.prefix_length, cfg.num_heads,
             cfg.attention_head_dim)
    if not cfg.prefix_hidden:
      return self.param('key_values', normal_init(
          cfg, ('layers', None, None, 'heads', 'kv')), shape, cfg.params_dtype)
    table_PxH = self.param('embedding', normal_init(cfg, (None, 'embed')),
                           (cfg.prefix_length, cfg.hidden_size),
                           cfg.params_dtype)
    dense = lambda width, names, name: nn.Dense(
        width, dtype=jnp.float32, param_dtype=cfg.params_dtype,
        kernel_init=normal_init(cfg, names), bias_init=zeros_init(names[1:]),
        name=name)
    h_PxM = jnp.tanh(dense(cfg.prefix_hidden, ('embed', None), 'mlp_in')(
        table_PxH))
    kv_PxX = dense(math.prod(shape[:2] + shape[3:]), (None, None),
                   'mlp_out')(h_PxM)
    return kv_PxX.reshape(cfg.prefix_length, *shape[:2], *shape[3:]
                          ).transpose(1, 2, 0, 3, 4)


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
    if cfg.prefix_length:
      self.prefix = Prefix(cfg)
    if cfg.causal:
      self.transfer_embeddings = self.param(
          'transfer_embeddings', normal_init(cfg, (None, 'embed')),
          (TRANSFER_TOKENS, cfg.embedding_size), cfg.params_dtype)
    if self.use_pooler:
      self.pooler = nn.Dense(
          cfg.hidden_size, dtype=cfg.dtype, param_dtype=cfg.params_dtype,
          kernel_init=normal_init(cfg, ('embed', None)),
          bias_init=zeros_init((None,)))
    # BERT initialises its classifier with the truncated normal, GPT-1 with
    # the normal, ELECTRA (no pooler) with Glorot uniform (§2.7).
    kernel_init = (normal_init(cfg, ('embed', None))
                   if self.use_pooler or cfg.causal else
                   nn.with_logical_partitioning(
                       nn.initializers.glorot_uniform(), ('embed', None)))
    outputs = {'span': 2, 'choice': 1}.get(self.head, self.num_outputs)
    self.classifier = nn.Dense(
        outputs, dtype=jnp.float32, param_dtype=cfg.params_dtype,
        kernel_init=kernel_init, bias_init=zeros_init((None,)))
    self.dropout = nn.Dropout(self.classifier_dropout)

  def encode(self, ids_BxL, segment_ids_BxL, input_mask_BxL):
    """Final hidden states [B, L, H]."""
    extra = self.transfer_embeddings if self.config.causal else None
    prefix = self.prefix() if self.config.prefix_length else None
    return self.encoder(self.embeddings(ids_BxL, segment_ids_BxL,
                                        extra_table_NxE=extra),
                        input_mask_BxL, prefix_Lx2xPxNxD=prefix)

  def summary(self, h_BxLxH, input_mask_BxL):
    """One vector per input: the (pooled) state of [CLS], or a causal
    body's state at its last real token (the extract token)."""
    if self.config.causal:
      last_B = jnp.sum(input_mask_BxL, axis=1) - 1
      x_BxH = jnp.take_along_axis(h_BxLxH, last_B[:, None, None], axis=1)[:, 0]
    else:
      x_BxH = h_BxLxH[:, 0]
    if self.use_pooler:
      x_BxH = jnp.tanh(self.pooler(x_BxH))
    return x_BxH

  def lm_logits(self, h_BxLxH):
    """A causal body's next-token logits [B, L, V + 3], f32."""
    table = jnp.concatenate([self.embeddings.word_table(),
                             self.transfer_embeddings])
    return tied_logits(h_BxLxH, table)

  def __call__(self, ids, segment_ids, input_mask, with_lm: bool = False):
    """Head outputs, f32: [B, num_outputs] ('sequence'), [B, L, num_outputs]
    ('token'), [B, L, 2] ('span'), [B, C] ('choice', inputs [B, C, L]).

    `with_lm` (causal bodies, summary heads): (head outputs, next-token
    logits [rows, L, V + 3]), the rows being the choices' for 'choice'.
    """
    if self.head == 'choice':
      batch, choices, length = ids.shape
      flat = lambda x: x.reshape(batch * choices, length)
      h_BCxLxH = self.encode(flat(ids), flat(segment_ids), flat(input_mask))
      x = self.summary(h_BCxLxH, flat(input_mask))
      x = self.dropout(x, deterministic=self.deterministic)
      out = self.classifier(x)[:, 0].reshape(batch, choices)
      return (out, self.lm_logits(h_BCxLxH)) if with_lm else out
    h_BxLxH = self.encode(ids, segment_ids, input_mask)
    if self.head == 'sequence':
      x = self.dropout(self.summary(h_BxLxH, input_mask),
                       deterministic=self.deterministic)
      out = self.classifier(x)
      return (out, self.lm_logits(h_BxLxH)) if with_lm else out
    if self.head == 'token':
      x = self.dropout(h_BxLxH, deterministic=self.deterministic)
      return self.classifier(x)
    return self.classifier(h_BxLxH)
