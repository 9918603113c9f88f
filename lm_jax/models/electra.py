"""ELECTRA's generator + discriminator pair with shared embeddings (§1.9).

The pair is one linen module so both networks live in one parameter tree:
`embeddings` (shared: word, position, token type and their LayerNorm),
`generator` + `generator_head` (MLM tied to the shared word table, own bias)
and `discriminator` + `discriminator_head` (Dense-gelu-Dense(1)). The loss in
`lm_jax/objectives/electra.py` calls the two halves with `method=`.
"""
import flax.linen as nn
import jax.numpy as jnp

from lm_jax.models.embeddings import Embeddings
from lm_jax.models.encoder import Encoder
from lm_jax.models.layers import activation, layer_norm, normal_init, zeros_init
from lm_jax.models.model_config import TransformerConfig


class MlmHead(nn.Module):
  """Dense(->E) - gelu - LayerNorm - tied word table + own output bias."""
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
    # Logits in f32 whatever the compute dtype.
    logits_BxNxV = jnp.einsum('bne,ve->bnv', x_BxNxE,
                              word_table_VxE.astype(jnp.float32))
    logits_BxNxV = logits_BxNxV + bias_V.astype(jnp.float32)
    return nn.with_logical_constraint(logits_BxNxV,
                                      ('batch', None, 'act_vocab'))


class DiscriminatorHead(nn.Module):
  """Dense(H->H, gelu) then Dense(H->1): one logit per token."""
  config: TransformerConfig

  @nn.compact
  def __call__(self, h_BxLxH):
    cfg = self.config
    x = nn.Dense(cfg.hidden_size, dtype=cfg.dtype, param_dtype=cfg.params_dtype,
                 kernel_init=normal_init(cfg, ('embed', None)),
                 bias_init=zeros_init((None,)), name='dense')(h_BxLxH)
    x = activation(cfg.activation)(x)
    logit = nn.Dense(
        1, dtype=jnp.float32, param_dtype=cfg.params_dtype,
        kernel_init=nn.with_logical_partitioning(
            nn.initializers.glorot_uniform(), ('embed', None)),
        bias_init=zeros_init((None,)), name='prediction')(x)
    return logit[..., 0]


class ElectraModel(nn.Module):
  """Generator and discriminator over one shared embedding module."""
  discriminator_config: TransformerConfig
  generator_config: TransformerConfig
  deterministic: bool = True

  def setup(self):
    disc, gen = self.discriminator_config, self.generator_config
    self.embeddings = Embeddings(disc, self.deterministic)
    self.generator = Encoder(gen, self.deterministic)
    self.generator_head = MlmHead(gen)
    self.discriminator = Encoder(disc, self.deterministic)
    self.discriminator_head = DiscriminatorHead(disc)

  def generator_logits(self, masked_ids_BxL, segment_ids_BxL, input_mask_BxL,
                       positions_BxN):
    """MLM logits [B, N, V] (f32) at the masked positions."""
    emb_BxLxE = self.embeddings(masked_ids_BxL, segment_ids_BxL)
    h_BxLxH = self.generator(emb_BxLxE, input_mask_BxL)
    h_BxNxH = jnp.take_along_axis(h_BxLxH, positions_BxN[..., None], axis=1)
    return self.generator_head(h_BxNxH, self.embeddings.word_table())

  def discriminator_logits(self, ids_BxL, segment_ids_BxL, input_mask_BxL):
    """Replaced-token logits [B, L] (f32), one per token."""
    emb_BxLxE = self.embeddings(ids_BxL, segment_ids_BxL)
    h_BxLxH = self.discriminator(emb_BxLxE, input_mask_BxL)
    return self.discriminator_head(h_BxLxH)

  def __call__(self, ids_BxL, segment_ids_BxL, input_mask_BxL, positions_BxN):
    """Both halves on the same input; used to create every parameter."""
    return (self.generator_logits(ids_BxL, segment_ids_BxL, input_mask_BxL,
                                  positions_BxN),
            self.discriminator_logits(ids_BxL, segment_ids_BxL, input_mask_BxL))
