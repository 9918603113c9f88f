"""The BERT/ELECTRA/ALBERT post-LN transformer encoder (algorithms.md §2.1,
§2.4).

Unshared layers run under `nn.scan`, so their parameters are stacked on a
leading 'layers' axis: compile time stays flat in depth, and `remat` trades
memory for compute per layer. ALBERT's shared layers reuse a few parameter
sets instead.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from lm_jax.models.layers import activation, layer_norm, normal_init, zeros_init
from lm_jax.models.model_config import TransformerConfig

# BERT's additive attention mask: (1 - key_mask) * -10000.
MASK_BIAS = -10000.0

_REMAT_POLICIES = {
    'full': None,  # save nothing, recompute the whole layer
    'dots': jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,
}


class _HeadsProjection(nn.Module):
  """x[..., H] -> [..., heads, head_dim] (or back, with `to_heads=False`).

  Params keep their full [H, heads, head_dim] shape, so the logical names fit
  (nn.DenseGeneral initialises a flattened kernel).
  """
  config: TransformerConfig
  to_heads: bool = True

  @nn.compact
  def __call__(self, x):
    cfg = self.config
    heads, head_dim = cfg.num_heads, cfg.hidden_size // cfg.num_heads
    if self.to_heads:
      shape, names = (cfg.hidden_size, heads, head_dim), ('embed', 'heads', 'kv')
      bias_shape, bias_names = (heads, head_dim), ('heads', 'kv')
      equation = 'blh,hnd->blnd'
    else:
      shape, names = (heads, head_dim, cfg.hidden_size), ('heads', 'kv', 'embed')
      bias_shape, bias_names = (cfg.hidden_size,), ('embed',)
      equation = 'blnd,ndh->blh'
    kernel = self.param('kernel', normal_init(cfg, names), shape,
                        cfg.params_dtype)
    bias = self.param('bias', zeros_init(bias_names), bias_shape,
                      cfg.params_dtype)
    x = x.astype(cfg.dtype)
    return jnp.einsum(equation, x, kernel.astype(cfg.dtype)) + bias.astype(cfg.dtype)


class SelfAttention(nn.Module):
  """Multi-head attention with separate Q, K, V projections; keys masked."""
  config: TransformerConfig
  deterministic: bool = True

  @nn.compact
  def __call__(self, x_BxLxH, bias_Bx1x1xL):
    cfg = self.config
    head_dim = cfg.hidden_size // cfg.num_heads
    q_BxLxNxD = _HeadsProjection(cfg, name='query')(x_BxLxH)
    k_BxLxNxD = _HeadsProjection(cfg, name='key')(x_BxLxH)
    v_BxLxNxD = _HeadsProjection(cfg, name='value')(x_BxLxH)
    # Scores and softmax in f32.
    scores_BxNxLxL = jnp.einsum('bqnd,bknd->bnqk', q_BxLxNxD, k_BxLxNxD,
                                preferred_element_type=jnp.float32)
    scores_BxNxLxL = scores_BxNxLxL / jnp.sqrt(head_dim) + bias_Bx1x1xL
    self.sow('intermediates', 'attention_scores', scores_BxNxLxL)
    probs_BxNxLxL = jax.nn.softmax(scores_BxNxLxL, axis=-1)
    probs_BxNxLxL = nn.Dropout(cfg.attention_dropout_rate)(
        probs_BxNxLxL, deterministic=self.deterministic)
    out_BxLxNxD = jnp.einsum('bnqk,bknd->bqnd', probs_BxNxLxL.astype(cfg.dtype),
                             v_BxLxNxD)
    out_BxLxNxD = nn.with_logical_constraint(
        out_BxLxNxD, ('batch', 'length', 'act_heads', None))
    return _HeadsProjection(cfg, to_heads=False, name='output')(out_BxLxNxD)


def _attention_sublayer(cfg: TransformerConfig, deterministic: bool,
                        x_BxLxH, bias_Bx1x1xL):
  """a = LN(x + drop(attn(x))), its modules named in the calling module."""
  attn_BxLxH = SelfAttention(cfg, deterministic, name='attention')(
      x_BxLxH, bias_Bx1x1xL)
  attn_BxLxH = nn.Dropout(cfg.dropout_rate)(attn_BxLxH,
                                            deterministic=deterministic)
  return layer_norm(cfg, 'attention_layer_norm')(
      (x_BxLxH + attn_BxLxH).astype(jnp.float32)).astype(cfg.dtype)


def _ffn_sublayer(cfg: TransformerConfig, deterministic: bool, a_BxLxH):
  """y = LN(a + drop(ffn(a))), its modules named in the calling module."""
  h_BxLxF = nn.Dense(
      cfg.intermediate_size, dtype=cfg.dtype, param_dtype=cfg.params_dtype,
      kernel_init=normal_init(cfg, ('embed', 'mlp')),
      bias_init=zeros_init(('mlp',)), name='intermediate')(a_BxLxH)
  h_BxLxF = activation(cfg.activation)(h_BxLxF)
  h_BxLxF = nn.with_logical_constraint(h_BxLxF, ('batch', 'length', 'act_mlp'))
  out_BxLxH = nn.Dense(
      cfg.hidden_size, dtype=cfg.dtype, param_dtype=cfg.params_dtype,
      kernel_init=normal_init(cfg, ('mlp', 'embed')),
      bias_init=zeros_init(('embed',)), name='output')(h_BxLxF)
  out_BxLxH = nn.Dropout(cfg.dropout_rate)(out_BxLxH,
                                           deterministic=deterministic)
  y_BxLxH = layer_norm(cfg, 'output_layer_norm')(
      (a_BxLxH + out_BxLxH).astype(jnp.float32)).astype(cfg.dtype)
  return nn.with_logical_constraint(y_BxLxH, ('batch', 'length', 'act_embed'))


class EncoderLayer(nn.Module):
  """a = LN(x + drop(attn(x))); y = LN(a + drop(ffn(a))). Scan-compatible."""
  config: TransformerConfig
  deterministic: bool = True

  @nn.compact
  def __call__(self, x_BxLxH, bias_Bx1x1xL):
    a_BxLxH = _attention_sublayer(self.config, self.deterministic, x_BxLxH,
                                  bias_Bx1x1xL)
    y_BxLxH = _ffn_sublayer(self.config, self.deterministic, a_BxLxH)
    self.sow('intermediates', 'hidden_states', y_BxLxH)
    return y_BxLxH, None


class AttentionSublayer(nn.Module):
  """The attention half of a layer, for stacks that share it (ALBERT)."""
  config: TransformerConfig
  deterministic: bool = True

  @nn.compact
  def __call__(self, x_BxLxH, bias_Bx1x1xL):
    return _attention_sublayer(self.config, self.deterministic, x_BxLxH,
                               bias_Bx1x1xL)


class FeedForwardSublayer(nn.Module):
  """The feed-forward half of a layer, for stacks that share it (ALBERT)."""
  config: TransformerConfig
  deterministic: bool = True

  @nn.compact
  def __call__(self, a_BxLxH):
    y_BxLxH = _ffn_sublayer(self.config, self.deterministic, a_BxLxH)
    self.sow('intermediates', 'hidden_states', y_BxLxH)
    return y_BxLxH


def layer_groups(cfg: TransformerConfig) -> tuple[list[int], list[int]]:
  """For each layer, the index of the attention and of the feed-forward
  parameters it uses. Layer i is in group int(i * groups / layers) (§2.4)."""
  layers = range(cfg.num_layers)
  group = [i * cfg.num_layer_groups // cfg.num_layers for i in layers]
  own = list(layers)
  return {'all': (group, group), 'attention': (group, own),
          'ffn': (own, group)}[cfg.share_layers]


class Encoder(nn.Module):
  """Embedding projection (when E != H) and the stack of layers.

  Takes embeddings from outside, so two encoders can share one `Embeddings`.
  Unshared layers run under `nn.scan` (parameters stacked on 'layers');
  shared ones (ALBERT) loop over a few parameter sets. Each layer's output,
  and each layer's attention scores, are sown into 'intermediates' (read by
  intermediate-layer distillation; free when that collection isn't mutable).
  """
  config: TransformerConfig
  deterministic: bool = True

  @nn.compact
  def __call__(self, emb_BxLxE, input_mask_BxL):
    cfg = self.config
    x = emb_BxLxE
    if cfg.embedding_size != cfg.hidden_size:
      init = {'glorot_uniform': nn.initializers.glorot_uniform(),
              'truncated_normal': nn.initializers.truncated_normal(
                  cfg.init_std)}[cfg.projection_init]
      x = nn.Dense(
          cfg.hidden_size, dtype=cfg.dtype, param_dtype=cfg.params_dtype,
          kernel_init=nn.with_logical_partitioning(init, (None, 'embed')),
          bias_init=zeros_init(('embed',)), name='embeddings_project')(x)
    bias_Bx1x1xL = ((1.0 - input_mask_BxL.astype(jnp.float32))
                    * MASK_BIAS)[:, None, None, :]
    if cfg.remat not in ('none', *_REMAT_POLICIES):
      raise ValueError(f'unknown remat {cfg.remat!r}; use none, full or dots')
    remat = lambda module: module if cfg.remat == 'none' else nn.remat(
        module, policy=_REMAT_POLICIES[cfg.remat], prevent_cse=False)
    if cfg.share_layers == 'none':
      stack = nn.scan(
          remat(EncoderLayer),
          variable_axes={'params': 0, 'intermediates': 0},
          split_rngs={'params': True, 'dropout': True},
          in_axes=nn.broadcast, length=cfg.num_layers,
          metadata_params={nn.PARTITION_NAME: 'layers'})
      x, _ = stack(cfg, self.deterministic, name='layers')(x, bias_Bx1x1xL)
      return x
    attention_of, ffn_of = layer_groups(cfg)
    attention = [remat(AttentionSublayer)(cfg, self.deterministic,
                                          name=f'attention_{g}')
                 for g in range(max(attention_of) + 1)]
    ffn = [remat(FeedForwardSublayer)(cfg, self.deterministic, name=f'ffn_{g}')
           for g in range(max(ffn_of) + 1)]
    for i in range(cfg.num_layers):
      x = ffn[ffn_of[i]](attention[attention_of[i]](x, bias_Bx1x1xL))
    return x
