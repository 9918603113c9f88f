"""Word + position + token-type embeddings, LayerNorm and dropout (§2.1)."""
import flax.linen as nn
import jax.numpy as jnp

from lm_jax.models.layers import layer_norm, normal_init
from lm_jax.models.model_config import TransformerConfig


class Embeddings(nn.Module):
  """Embeds token ids at width E. ELECTRA shares one instance between its
  generator and discriminator, LayerNorm included. With type_vocab_size 0
  there is no token-type table (DistilBERT, GPT) and segment ids are
  ignored; without embedding_norm there is no LayerNorm (GPT)."""
  config: TransformerConfig
  deterministic: bool = True

  def setup(self):
    cfg = self.config
    embed = lambda n, names, std=0.0: nn.Embed(
        n, cfg.embedding_size, embedding_init=normal_init(cfg, names, std),
        dtype=cfg.dtype, param_dtype=cfg.params_dtype)
    self.word_embeddings = embed(cfg.vocab_size, ('vocab', 'embed'))
    self.position_embeddings = embed(cfg.max_positions, (None, 'embed'),
                                     cfg.position_init_std)
    if cfg.type_vocab_size:
      self.token_type_embeddings = embed(cfg.type_vocab_size, (None, 'embed'))
    if cfg.embedding_norm:
      self.layer_norm = layer_norm(cfg, 'layer_norm')
    self.dropout = nn.Dropout(cfg.dropout_rate)

  def __call__(self, ids_BxL, segment_ids_BxL=None, positions_BxL=None,
               extra_table_NxE=None):
    """`positions_BxL` default to 0..L-1 in every row; decoding passes its
    own (a left-padded prompt's first real token is at position 0). Ids from
    V on index `extra_table_NxE`: tokens added by fine-tuning (GPT-1's
    start, delimiter and extract)."""
    length = ids_BxL.shape[1]
    if positions_BxL is None:
      if length > self.config.max_positions:
        raise ValueError(f'sequence length {length} exceeds max_positions '
                         f'{self.config.max_positions}')
      positions_BxL = jnp.arange(length)[None]
    if extra_table_NxE is None:
      words_BxLxE = self.word_embeddings(ids_BxL)
    else:
      table = jnp.concatenate([self.word_table(), extra_table_NxE])
      words_BxLxE = jnp.take(table, ids_BxL, axis=0).astype(self.config.dtype)
    x_BxLxE = words_BxLxE + self.position_embeddings(positions_BxL)
    if self.config.type_vocab_size:
      x_BxLxE = x_BxLxE + self.token_type_embeddings(segment_ids_BxL)
    if self.config.embedding_norm:
      # LayerNorm statistics in f32, whatever the compute dtype.
      x_BxLxE = self.layer_norm(x_BxLxE.astype(jnp.float32))
    x_BxLxE = self.dropout(x_BxLxE, deterministic=self.deterministic)
    x_BxLxE = x_BxLxE.astype(self.config.dtype)
    return nn.with_logical_constraint(x_BxLxE, ('batch', 'length', 'act_embed'))

  def word_table(self):
    """The [V, E] word table, for output layers tied to it."""
    return self.word_embeddings.embedding
