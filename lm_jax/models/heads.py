"""Pretraining heads of the BERT family (algorithms.md §1.6, §1.7, §2.3).

All vocabulary outputs are tied to the word table and keep their own bias;
logits are f32 whatever the compute dtype.
"""
import flax.linen as nn
import jax.numpy as jnp

from lm_jax.models.layers import activation, layer_norm, normal_init, zeros_init
from lm_jax.models.model_config import TransformerConfig


def tied_logits(x_BxNxE, word_table_VxE, bias_V=None):
  """x . W_word^T (+ b) in f32, the vocabulary split over 'tensor'. GPT's
  output layer has no bias."""
  logits_BxNxV = jnp.einsum('bne,ve->bnv', x_BxNxE.astype(jnp.float32),
                            word_table_VxE.astype(jnp.float32))
  if bias_V is not None:
    logits_BxNxV = logits_BxNxV + bias_V.astype(jnp.float32)
  return nn.with_logical_constraint(logits_BxNxV, ('batch', None, 'act_vocab'))


class MlmHead(nn.Module):
  """Dense(->E) - gelu - LayerNorm - tied word table + own output bias.

  E is the embedding width: H for BERT, 128 for ALBERT and ELECTRA-Small.
  """
  config: TransformerConfig

  @nn.compact
  def __call__(self, h_BxNxH, word_table_VxE):
    cfg = self.config
    x = nn.Dense(cfg.embedding_size, dtype=cfg.dtype,
                 param_dtype=cfg.params_dtype,
                 kernel_init=normal_init(cfg, (None, 'embed')),
                 bias_init=zeros_init(('embed',)), name='dense')(h_BxNxH)
    x = activation(cfg.activation)(x)
    x_BxNxE = layer_norm(cfg, 'layer_norm')(x.astype(jnp.float32))
    bias_V = self.param('output_bias', zeros_init(('vocab',)),
                        (cfg.vocab_size,), cfg.params_dtype)
    return tied_logits(x_BxNxE, word_table_VxE, bias_V)


class SentenceHead(nn.Module):
  """BERT's pooler tanh(Dense_H(h_[CLS])) and a 2-way classifier: NSP or SOP."""
  config: TransformerConfig

  @nn.compact
  def __call__(self, h_BxLxH):
    cfg = self.config
    pooled_BxH = nn.Dense(
        cfg.hidden_size, dtype=cfg.dtype, param_dtype=cfg.params_dtype,
        kernel_init=normal_init(cfg, ('embed', None)),
        bias_init=zeros_init((None,)), name='pooler')(h_BxLxH[:, 0])
    pooled_BxH = jnp.tanh(pooled_BxH)
    return nn.Dense(2, dtype=jnp.float32, param_dtype=cfg.params_dtype,
                    kernel_init=normal_init(cfg, (None, None)),
                    bias_init=zeros_init((None,)), name='classifier')(pooled_BxH)


class SpanBoundaryHead(nn.Module):
  """SpanBERT's SBO head (§1.6): each target token of a span predicted from
  the two tokens just outside the span and its offset in the span.

  f = [h_left; h_right; p_offset] -> Dense(H) - gelu - LN - Dense(H) - gelu -
  LN -> tied word table + own bias (not the MLM head's).
  """
  config: TransformerConfig
  max_targets: int = 15  # rows of the offset table
  position_size: int = 200

  @nn.compact
  def __call__(self, h_BxLxH, left_BxN, right_BxN, offset_BxN, word_table_VxE):
    cfg = self.config
    take = lambda idx_BxN: jnp.take_along_axis(h_BxLxH, idx_BxN[..., None],
                                               axis=1)
    offsets = nn.Embed(self.max_targets, self.position_size,
                       embedding_init=normal_init(cfg, (None, None)),
                       dtype=cfg.dtype, param_dtype=cfg.params_dtype,
                       name='offset_embeddings')
    x = jnp.concatenate(
        [take(left_BxN), take(right_BxN),
         offsets(jnp.minimum(offset_BxN, self.max_targets - 1))], axis=-1)
    for i, width in enumerate((cfg.hidden_size, cfg.embedding_size)):
      x = nn.Dense(width, dtype=cfg.dtype, param_dtype=cfg.params_dtype,
                   kernel_init=normal_init(cfg, (None, 'embed')),
                   bias_init=zeros_init(('embed',)), name=f'dense_{i}')(x)
      x = activation(cfg.activation)(x)
      x = layer_norm(cfg, f'layer_norm_{i}')(x.astype(jnp.float32))
    bias_V = self.param('output_bias', zeros_init(('vocab',)),
                        (cfg.vocab_size,), cfg.params_dtype)
    return tied_logits(x, word_table_VxE, bias_V)
