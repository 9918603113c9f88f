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
from lm_jax.models.heads import MlmHead
from lm_jax.models.layers import activation, normal_init, zeros_init
from lm_jax.models.model_config import TransformerConfig


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
  # False: the generator reads and ties to embeddings of its own (§1.9's
  # untied_generator_embeddings).
  share_embeddings: bool = True

  def setup(self):
    disc, gen = self.discriminator_config, self.generator_config
    self.embeddings = Embeddings(disc, self.deterministic)
    self.generator_embeddings = (
        self.embeddings if self.share_embeddings
        else Embeddings(gen, self.deterministic))
    self.generator = Encoder(gen, self.deterministic)
    self.generator_head = MlmHead(gen)
    self.discriminator = Encoder(disc, self.deterministic)
    self.discriminator_head = DiscriminatorHead(disc)

  def generator_logits(self, masked_ids_BxL, segment_ids_BxL, input_mask_BxL,
                       positions_BxN):
    """MLM logits [B, N, V] (f32) at the masked positions."""
    emb_BxLxE = self.generator_embeddings(masked_ids_BxL, segment_ids_BxL)
    h_BxLxH = self.generator(emb_BxLxE, input_mask_BxL)
    h_BxNxH = jnp.take_along_axis(h_BxLxH, positions_BxN[..., None], axis=1)
    return self.generator_head(h_BxNxH,
                               self.generator_embeddings.word_table())

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
