"""The transformer stack of every model: the BERT/ELECTRA/ALBERT post-LN
encoder (algorithms.md §2.1, §2.4) and, causal, GPT-1's post-LN and GPT-2's
pre-LN decoder (§2.5), with a key/value cache for decoding.

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

# BERT's additive attention mask: (1 - key_mask) * -10000. GPT's -1e9 / -1e10
# give the same probabilities: exp(-10000) is 0 in float32 already.
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
  init_std: float = 0.0  # 0: the config's

  @nn.compact
  def __call__(self, x):
    cfg = self.config
    heads, head_dim = cfg.num_heads, cfg.attention_head_dim
    if self.to_heads:
      shape, names = (cfg.hidden_size, heads, head_dim), ('embed', 'heads', 'kv')
      bias_shape, bias_names = (heads, head_dim), ('heads', 'kv')
      equation = 'blh,hnd->blnd'
    else:
      shape, names = (heads, head_dim, cfg.hidden_size), ('heads', 'kv', 'embed')
      bias_shape, bias_names = (cfg.hidden_size,), ('embed',)
      equation = 'blnd,ndh->blh'
    kernel = self.param('kernel', normal_init(cfg, names, self.init_std),
                        shape, cfg.params_dtype)
    bias = self.param('bias', zeros_init(bias_names), bias_shape,
                      cfg.params_dtype)
    x = x.astype(cfg.dtype)
    y = jnp.einsum(equation, x, kernel.astype(cfg.dtype)) + bias.astype(cfg.dtype)
    if cfg.lora_rank and self.name in cfg.lora_target_names:
      y = y + self._lora(x)
    return y

  def _lora(self, x):
    """LoRA's low-rank update (alpha / r) x A B: A as PyTorch initialises a
    Linear (uniform +-1/sqrt(fan_in)), B zero, so training starts from the
    pretrained projection."""
    cfg = self.config
    rank, heads, head_dim = cfg.lora_rank, cfg.num_heads, cfg.attention_head_dim
    if self.to_heads:
      a_shape, a_names, in_axis = (cfg.hidden_size, rank), ('embed', None), -2
      b_shape, b_names = (rank, heads, head_dim), (None, 'heads', 'kv')
      down, up = 'blh,hr->blr', 'blr,rnd->blnd'
    else:
      a_shape, a_names, in_axis = (heads, head_dim, rank), ('heads', 'kv', None), (0, 1)
      b_shape, b_names = (rank, cfg.hidden_size), (None, 'embed')
      down, up = 'blnd,ndr->blr', 'blr,rh->blh'
    a_init = nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform',
                                              in_axis=in_axis, out_axis=-1)
    a = self.param('lora_a', nn.with_logical_partitioning(a_init, a_names),
                   a_shape, cfg.params_dtype)
    b = self.param('lora_b', zeros_init(b_names), b_shape, cfg.params_dtype)
    h = jnp.einsum(down, x, a.astype(cfg.dtype))
    return jnp.einsum(up, h, b.astype(cfg.dtype)) * (cfg.lora_alpha / rank)


# Houlsby et al.'s adapter init: weights N(0, 1e-3) truncated, biases 0, so
# an adapter starts as (almost) the identity (§1.12).
ADAPTER_INIT_STD = 1e-3


class Adapter(nn.Module):
  """x + W2 act(W1 x + b1) + b2 with a bottleneck of adapter_size."""
  config: TransformerConfig

  @nn.compact
  def __call__(self, x_BxLxH):
    cfg = self.config
    init = lambda names: nn.with_logical_partitioning(
        nn.initializers.truncated_normal(ADAPTER_INIT_STD), names)
    h_BxLxA = nn.Dense(
        cfg.adapter_size, dtype=cfg.dtype, param_dtype=cfg.params_dtype,
        kernel_init=init(('embed', None)), bias_init=zeros_init((None,)),
        name='down')(x_BxLxH)
    h_BxLxA = activation(cfg.activation)(h_BxLxA)
    return x_BxLxH + nn.Dense(
        cfg.hidden_size, dtype=cfg.dtype, param_dtype=cfg.params_dtype,
        kernel_init=init((None, 'embed')), bias_init=zeros_init(('embed',)),
        name='up')(h_BxLxA)


def residual_init_std(cfg: TransformerConfig) -> float:
  """Init std of a layer's two residual output projections: GPT-2 scales
  them by 1/sqrt(2 * layers), two residual branches per layer (§2.5)."""
  if cfg.scale_residual_init:
    return cfg.init_std / (2 * cfg.num_layers) ** 0.5
  return cfg.init_std


def attention_mask(cfg: TransformerConfig, key_mask_BxK, num_queries: int,
                   first_query=0, num_prefix: int = 0):
  """Which keys each query may attend to, [B, 1, Q, P + K] bool.

  Keys are masked where `key_mask_BxK` is 0 (padding); queries are not (BERT
  computes padded queries too). A causal model also masks the future: query
  i sits at key slot `first_query + i` (nonzero when decoding with a cache of
  K slots) and sees slots up to its own. `num_prefix` trained prefix keys in
  front of the K are seen by every query (prefix tuning, §1.13).
  """
  allowed_Bx1xQxK = key_mask_BxK.astype(bool)[:, None, None, :]
  if cfg.causal:
    slots_K = jnp.arange(key_mask_BxK.shape[1])
    queries_Q = first_query + jnp.arange(num_queries)
    allowed_Bx1xQxK = allowed_Bx1xQxK & (slots_K[None, :] <= queries_Q[:, None])
  if not num_prefix:
    return allowed_Bx1xQxK
  prefix_Bx1xQxP = jnp.ones(allowed_Bx1xQxK.shape[:3] + (num_prefix,), bool)
  return jnp.concatenate([prefix_Bx1xQxP, allowed_Bx1xQxK], axis=-1)


class SelfAttention(nn.Module):
  """Multi-head attention with separate Q, K, V projections.

  With `decode`, keys and values go to a cache (the 'cache' collection,
  created by `init` at the input's length) at slot `cache_index`, and the
  queries attend over the whole cache.
  """
  config: TransformerConfig
  deterministic: bool = True
  decode: bool = False

  @nn.compact
  def __call__(self, x_BxLxH, allowed_Bx1xQxK, cache_index=None,
               prefix_2xPxNxD=None):
    """`prefix_2xPxNxD`: this layer's prefix keys and values, attended
    before the sequence's own (prefix tuning)."""
    cfg = self.config
    head_dim = cfg.attention_head_dim
    q_BxLxNxD = _HeadsProjection(cfg, name='query')(x_BxLxH)
    k_BxKxNxD = _HeadsProjection(cfg, name='key')(x_BxLxH)
    v_BxKxNxD = _HeadsProjection(cfg, name='value')(x_BxLxH)
    if self.decode:
      k_BxKxNxD, v_BxKxNxD = self._cached(k_BxKxNxD, v_BxKxNxD, cache_index)
    if prefix_2xPxNxD is not None:
      prefix_2xBxPxNxD = jnp.broadcast_to(
          prefix_2xPxNxD.astype(cfg.dtype)[:, None],
          (2, x_BxLxH.shape[0]) + prefix_2xPxNxD.shape[1:])
      k_BxKxNxD = jnp.concatenate([prefix_2xBxPxNxD[0], k_BxKxNxD], axis=1)
      v_BxKxNxD = jnp.concatenate([prefix_2xBxPxNxD[1], v_BxKxNxD], axis=1)
    dropout = cfg.attention_dropout_rate > 0 and not self.deterministic
    if cfg.attention_impl != 'plain' and not dropout:
      out_BxLxNxD = jax.nn.dot_product_attention(
          q_BxLxNxD, k_BxKxNxD, v_BxKxNxD, mask=allowed_Bx1xQxK,
          implementation=cfg.attention_impl)
    else:
      # Scores and softmax in f32; BERT's additive mask.
      scores_BxNxLxK = jnp.einsum('bqnd,bknd->bnqk', q_BxLxNxD, k_BxKxNxD,
                                  preferred_element_type=jnp.float32)
      scores_BxNxLxK = (scores_BxNxLxK / jnp.sqrt(head_dim)
                        + jnp.where(allowed_Bx1xQxK, 0.0, MASK_BIAS))
      self.sow('intermediates', 'attention_scores', scores_BxNxLxK)
      probs_BxNxLxK = jax.nn.softmax(scores_BxNxLxK, axis=-1)
      probs_BxNxLxK = nn.Dropout(cfg.attention_dropout_rate)(
          probs_BxNxLxK, deterministic=self.deterministic)
      out_BxLxNxD = jnp.einsum('bnqk,bknd->bqnd',
                               probs_BxNxLxK.astype(cfg.dtype), v_BxKxNxD)
    out_BxLxNxD = nn.with_logical_constraint(
        out_BxLxNxD, ('batch', 'length', 'act_heads', None))
    return _HeadsProjection(cfg, to_heads=False, init_std=residual_init_std(cfg),
                            name='output')(out_BxLxNxD)

  def _cached(self, k_BxLxNxD, v_BxLxNxD, cache_index):
    """Writes the new keys and values at `cache_index`; returns the cache.
    Without an index (at `init`), creates an empty cache as long as the
    input and returns the input's keys and values."""
    key = self.variable('cache', 'cached_key', jnp.zeros, k_BxLxNxD.shape,
                        k_BxLxNxD.dtype)
    value = self.variable('cache', 'cached_value', jnp.zeros, v_BxLxNxD.shape,
                          v_BxLxNxD.dtype)
    if cache_index is None:
      return k_BxLxNxD, v_BxLxNxD
    at = (0, cache_index, 0, 0)
    key.value = jax.lax.dynamic_update_slice(key.value, k_BxLxNxD, at)
    value.value = jax.lax.dynamic_update_slice(value.value, v_BxLxNxD, at)
    return key.value, value.value


def _attention_sublayer(cfg: TransformerConfig, deterministic: bool,
                        decode: bool, x_BxLxH, allowed_Bx1xQxK, cache_index,
                        prefix_2xPxNxD=None):
  """Post-LN a = LN(x + adapter(drop(attn(x)))) or pre-LN a = x +
  adapter(drop(attn(LN(x)))) (the adapter only with adapter_size), its
  modules named in the calling module."""
  norm = layer_norm(cfg, 'attention_layer_norm')
  pre = cfg.norm_position == 'pre'
  h_BxLxH = norm(x_BxLxH.astype(jnp.float32)).astype(cfg.dtype) if pre else x_BxLxH
  attn_BxLxH = SelfAttention(cfg, deterministic, decode, name='attention')(
      h_BxLxH, allowed_Bx1xQxK, cache_index, prefix_2xPxNxD)
  attn_BxLxH = nn.Dropout(cfg.dropout_rate)(attn_BxLxH,
                                            deterministic=deterministic)
  if cfg.adapter_size:
    attn_BxLxH = Adapter(cfg, name='attention_adapter')(attn_BxLxH)
  if pre:
    return x_BxLxH + attn_BxLxH
  return norm((x_BxLxH + attn_BxLxH).astype(jnp.float32)).astype(cfg.dtype)


def _ffn_sublayer(cfg: TransformerConfig, deterministic: bool, a_BxLxH):
  """Post-LN y = LN(a + adapter(drop(ffn(a)))) or pre-LN y = a +
  adapter(drop(ffn(LN(a)))), its modules named in the calling module."""
  norm = layer_norm(cfg, 'output_layer_norm')
  pre = cfg.norm_position == 'pre'
  h_BxLxH = norm(a_BxLxH.astype(jnp.float32)).astype(cfg.dtype) if pre else a_BxLxH
  h_BxLxF = nn.Dense(
      cfg.intermediate_size, dtype=cfg.dtype, param_dtype=cfg.params_dtype,
      kernel_init=normal_init(cfg, ('embed', 'mlp')),
      bias_init=zeros_init(('mlp',)), name='intermediate')(h_BxLxH)
  h_BxLxF = activation(cfg.activation)(h_BxLxF)
  h_BxLxF = nn.with_logical_constraint(h_BxLxF, ('batch', 'length', 'act_mlp'))
  out_BxLxH = nn.Dense(
      cfg.hidden_size, dtype=cfg.dtype, param_dtype=cfg.params_dtype,
      kernel_init=normal_init(cfg, ('mlp', 'embed'), residual_init_std(cfg)),
      bias_init=zeros_init(('embed',)), name='output')(h_BxLxF)
  out_BxLxH = nn.Dropout(cfg.dropout_rate)(out_BxLxH,
                                           deterministic=deterministic)
  if cfg.adapter_size:
    out_BxLxH = Adapter(cfg, name='ffn_adapter')(out_BxLxH)
  if pre:
    y_BxLxH = a_BxLxH + out_BxLxH
  else:
    y_BxLxH = norm((a_BxLxH + out_BxLxH).astype(jnp.float32)).astype(cfg.dtype)
  return nn.with_logical_constraint(y_BxLxH, ('batch', 'length', 'act_embed'))


class EncoderLayer(nn.Module):
  """One layer, attention then feed-forward. Scan-compatible."""
  config: TransformerConfig
  deterministic: bool = True
  decode: bool = False

  @nn.compact
  def __call__(self, x_BxLxH, allowed_Bx1xQxK, cache_index=None,
               prefix_2xPxNxD=None):
    a_BxLxH = _attention_sublayer(self.config, self.deterministic, self.decode,
                                  x_BxLxH, allowed_Bx1xQxK, cache_index,
                                  prefix_2xPxNxD)
    y_BxLxH = _ffn_sublayer(self.config, self.deterministic, a_BxLxH)
    self.sow('intermediates', 'hidden_states', y_BxLxH)
    return y_BxLxH, None


class AttentionSublayer(nn.Module):
  """The attention half of a layer, for stacks that share it (ALBERT)."""
  config: TransformerConfig
  deterministic: bool = True

  @nn.compact
  def __call__(self, x_BxLxH, allowed_Bx1xQxK, prefix_2xPxNxD=None):
    return _attention_sublayer(self.config, self.deterministic, False, x_BxLxH,
                               allowed_Bx1xQxK, None, prefix_2xPxNxD)


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
  """Embedding projection (when E != H), the stack of layers and, pre-LN,
  the final LayerNorm. A causal config makes it GPT's decoder.

  Takes embeddings from outside, so two encoders can share one `Embeddings`.
  Unshared layers run under `nn.scan` (parameters stacked on 'layers');
  shared ones (ALBERT) loop over a few parameter sets. Each layer's output,
  and each layer's attention scores, are sown into 'intermediates' (read by
  intermediate-layer distillation; free when that collection isn't mutable).
  With `decode` (unshared layers only), keys and values are cached per layer
  (see `SelfAttention`).
  """
  config: TransformerConfig
  deterministic: bool = True
  decode: bool = False

  @nn.compact
  def __call__(self, emb_BxLxE, key_mask_BxK, cache_index=None,
               prefix_Lx2xPxNxD=None):
    """Final states [B, L, H]. `key_mask_BxK` marks real tokens: of the input
    (K = L), or, when decoding, of the cache's K slots, the input being
    written at slots cache_index .. cache_index + L - 1. `prefix_Lx2xPxNxD`:
    each layer's prefix keys and values (prefix tuning)."""
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
    num_prefix = 0
    if prefix_Lx2xPxNxD is not None:
      if self.decode:
        raise ValueError('cached decoding takes no prefix')
      num_prefix = prefix_Lx2xPxNxD.shape[2]
    allowed_Bx1xQxK = attention_mask(cfg, key_mask_BxK, x.shape[1],
                                     0 if cache_index is None else cache_index,
                                     num_prefix)
    if cfg.remat not in ('none', *_REMAT_POLICIES):
      raise ValueError(f'unknown remat {cfg.remat!r}; use none, full or dots')
    remat = lambda module: module if cfg.remat == 'none' else nn.remat(
        module, policy=_REMAT_POLICIES[cfg.remat], prevent_cse=False)
    if cfg.share_layers == 'none':
      stack = nn.scan(
          remat(EncoderLayer),
          variable_axes={'params': 0, 'intermediates': 0, 'cache': 0},
          split_rngs={'params': True, 'dropout': True},
          in_axes=(nn.broadcast, nn.broadcast, 0), length=cfg.num_layers,
          metadata_params={nn.PARTITION_NAME: 'layers'})
      x, _ = stack(cfg, self.deterministic, self.decode, name='layers')(
          x, allowed_Bx1xQxK, cache_index, prefix_Lx2xPxNxD)
    else:
      if self.decode:
        raise ValueError('cached decoding needs unshared layers')
      attention_of, ffn_of = layer_groups(cfg)
      attention = [remat(AttentionSublayer)(cfg, self.deterministic,
                                            name=f'attention_{g}')
                   for g in range(max(attention_of) + 1)]
      ffn = [remat(FeedForwardSublayer)(cfg, self.deterministic,
                                        name=f'ffn_{g}')
             for g in range(max(ffn_of) + 1)]
      for i in range(cfg.num_layers):
        prefix_2xPxNxD = (None if prefix_Lx2xPxNxD is None
                          else prefix_Lx2xPxNxD[i])
        x = ffn[ffn_of[i]](attention[attention_of[i]](x, allowed_Bx1xQxK,
                                                      prefix_2xPxNxD))
    if cfg.norm_position == 'pre':  # GPT-2's ln_f
      x = layer_norm(cfg, 'final_layer_norm')(
          x.astype(jnp.float32)).astype(cfg.dtype)
    return x
