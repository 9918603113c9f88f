"""The size and precision of one transformer body, as a hashable dataclass."""
import dataclasses

import jax.numpy as jnp


SHARING = ('none', 'all', 'attention', 'ffn')
NORM_POSITIONS = ('post', 'pre')
INIT_DISTRIBUTIONS = ('truncated_normal', 'normal')
# 'plain': einsums and a softmax in f32 (attention dropout, scores sown for
# distillation); 'xla' / 'cudnn': jax.nn.dot_product_attention (cuDNN's fused
# flash attention on GPU), used where no attention dropout is drawn.
ATTENTION_IMPLS = ('plain', 'xla', 'cudnn')
LORA_TARGETS = ('query', 'key', 'value', 'output')


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
  """Sizes and numerics of a transformer body: the BERT-style encoder
  (algorithms.md §2.1-2.2) by default, GPT's decoder (§2.5) with `causal`,
  no embedding LayerNorm, and pre- (GPT-2) or post-LN (GPT-1) blocks."""
  vocab_size: int
  hidden_size: int
  num_layers: int
  num_heads: int
  intermediate_size: int
  embedding_size: int  # E; a Dense E->H follows the embeddings when E != H.
  max_positions: int = 512
  type_vocab_size: int = 2  # 0: no token-type table (DistilBERT)
  dropout_rate: float = 0.1
  attention_dropout_rate: float = 0.1
  activation: str = 'gelu'  # 'gelu' is exact erf (BERT/ELECTRA); 'gelu_tanh'.
  layer_norm_eps: float = 1e-12
  init_std: float = 0.02
  compute_dtype: str = 'float32'  # activations and matmuls
  param_dtype: str = 'float32'  # master weights
  remat: str = 'none'  # 'none' | 'full' | 'dots' (keep matmul outputs)
  # Cross-layer sharing (ALBERT §2.4): which sublayers the layers of a group
  # share ('none' | 'all' | 'attention' | 'ffn'), over num_layer_groups groups.
  share_layers: str = 'none'
  num_layer_groups: int = 1
  # Init of the E->H projection: TF's Glorot-uniform (ELECTRA) or truncated
  # normal init_std (ALBERT's embedding_hidden_mapping_in).
  projection_init: str = 'glorot_uniform'
  # Decoders (§2.5). Each token attends to itself and earlier tokens only.
  causal: bool = False
  # 'post': LN(x + sublayer(x)) (BERT, GPT-1); 'pre': x + sublayer(LN(x))
  # and a final LayerNorm after the stack (GPT-2).
  norm_position: str = 'post'
  embedding_norm: bool = True  # LayerNorm on the embeddings (BERT); GPT: none
  init_distribution: str = 'truncated_normal'  # 'normal': N(0, init_std), GPT
  position_init_std: float = 0.0  # 0: init_std; GPT-2 0.01
  # GPT-2: the two residual output projections of each layer start at
  # init_std / sqrt(2 * num_layers).
  scale_residual_init: bool = False
  attention_impl: str = 'plain'  # see ATTENTION_IMPLS
  # Width of each attention head; 0: hidden_size / num_heads. GPT-3 13B has
  # 40 heads of 128 in a width of 5140.
  head_dim: int = 0
  # Parameter-efficient fine-tuning; all 0 (off) in pretraining.
  # Houlsby adapters (§1.12): x + W2 act(W1 x) of this bottleneck after each
  # sublayer's output projection, before its residual add and LayerNorm.
  adapter_size: int = 0
  # LoRA: W x + (lora_alpha / lora_rank) B A x on the attention projections
  # named in lora_targets (of query, key, value, output).
  lora_rank: int = 0
  lora_alpha: float = 16.0
  lora_targets: str = 'query,value'
  # Prefix tuning (§1.13): prefix_length trained keys and values in front of
  # every layer's attention; while training they come from an MLP of width
  # prefix_hidden (the reparameterisation), 0 once folded into the values.
  prefix_length: int = 0
  prefix_hidden: int = 0

  def __post_init__(self):
    if not self.head_dim and self.hidden_size % self.num_heads:
      raise ValueError(f'hidden_size {self.hidden_size} is not divisible by '
                       f'num_heads {self.num_heads}')
    if self.share_layers not in SHARING:
      raise ValueError(f'unknown share_layers {self.share_layers!r}; use '
                       f'{", ".join(SHARING)}')
    for name, value, allowed in (
        ('norm_position', self.norm_position, NORM_POSITIONS),
        ('init_distribution', self.init_distribution, INIT_DISTRIBUTIONS),
        ('attention_impl', self.attention_impl, ATTENTION_IMPLS)):
      if value not in allowed:
        raise ValueError(f'unknown {name} {value!r}; use {", ".join(allowed)}')
    unknown = set(self.lora_target_names) - set(LORA_TARGETS)
    if self.lora_rank and unknown:
      raise ValueError(f'unknown lora_targets {", ".join(sorted(unknown))}; '
                       f'use {", ".join(LORA_TARGETS)}')
    if (self.share_layers != 'none'
        and not 0 < self.num_layer_groups <= self.num_layers):
      raise ValueError(f'num_layer_groups {self.num_layer_groups} must be in '
                       f'[1, num_layers={self.num_layers}]')

  @property
  def lora_target_names(self) -> tuple[str, ...]:
    return tuple(t.strip() for t in self.lora_targets.split(',') if t.strip())

  @property
  def attention_head_dim(self) -> int:
    return self.head_dim or self.hidden_size // self.num_heads

  @property
  def dtype(self):
    return jnp.dtype(self.compute_dtype)

  @property
  def params_dtype(self):
    return jnp.dtype(self.param_dtype)


def scaled_generator(disc: TransformerConfig, hidden_fraction: float,
                     layer_fraction: float = 1.0) -> TransformerConfig:
  """ELECTRA's generator sizing (§1.9): hidden scaled, FFN 4h, heads h/64."""
  hidden = max(1, round(disc.hidden_size * hidden_fraction))
  return dataclasses.replace(
      disc,
      hidden_size=hidden,
      num_layers=max(1, round(disc.num_layers * layer_fraction)),
      intermediate_size=4 * hidden,
      num_heads=max(1, hidden // 64))


def field_defaults() -> dict:
  """The fields that have a default, and their defaults."""
  return {f.name: f.default for f in dataclasses.fields(TransformerConfig)
          if f.default is not dataclasses.MISSING}


def from_model_config(model_cfg, vocab_size: int) -> TransformerConfig:
  """The body described by a run config's `model` section, whose keys are
  this dataclass's fields. A key the section lacks (the config of a
  checkpoint written before the field existed) takes the field's default,
  which is what that checkpoint was trained with."""
  model = {**field_defaults(), **dict(model_cfg)}
  return TransformerConfig(vocab_size=vocab_size, **{
      f.name: model[f.name] for f in dataclasses.fields(TransformerConfig)
      if f.name != 'vocab_size'})
