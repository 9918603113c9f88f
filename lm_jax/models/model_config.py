"""The size and precision of one transformer body, as a hashable dataclass."""
import dataclasses

import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
  """Sizes and numerics of a BERT-style encoder (algorithms.md §2.1-2.2)."""
  vocab_size: int
  hidden_size: int
  num_layers: int
  num_heads: int
  intermediate_size: int
  embedding_size: int  # E; a Dense E->H follows the embeddings when E != H.
  max_positions: int = 512
  type_vocab_size: int = 2
  dropout_rate: float = 0.1
  attention_dropout_rate: float = 0.1
  activation: str = 'gelu'  # 'gelu' is exact erf (BERT/ELECTRA); 'gelu_tanh'.
  layer_norm_eps: float = 1e-12
  init_std: float = 0.02
  compute_dtype: str = 'float32'  # activations and matmuls
  param_dtype: str = 'float32'  # master weights
  remat: str = 'none'  # 'none' | 'full' | 'dots' (keep matmul outputs)

  def __post_init__(self):
    if self.hidden_size % self.num_heads:
      raise ValueError(f'hidden_size {self.hidden_size} is not divisible by '
                       f'num_heads {self.num_heads}')

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
