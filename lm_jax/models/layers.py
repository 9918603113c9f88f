"""Building blocks shared by the models: initializers that carry logical axis
names, the f32 LayerNorm, and the activations (algorithms.md §2.1)."""
import flax.linen as nn
import jax.numpy as jnp

from lm_jax.models.model_config import TransformerConfig


def normal_init(cfg: TransformerConfig, names: tuple, std: float = 0.0):
  """N(0, std) for kernels and tables, std init_std unless given: truncated
  at 2 std (BERT's initializer) or plain (GPT's), as the config says."""
  std = std or cfg.init_std
  init = (nn.initializers.truncated_normal(std)
          if cfg.init_distribution == 'truncated_normal'
          else nn.initializers.normal(std))
  return nn.with_logical_partitioning(init, names)


def zeros_init(names: tuple):
  return nn.with_logical_partitioning(nn.initializers.zeros, names)


def layer_norm(cfg: TransformerConfig, name: str) -> nn.LayerNorm:
  """LayerNorm with eps from the config and statistics in f32.

  Two-pass variance, mean((x - mean)^2), as BERT computes it: the one-pass
  E[x^2] - E[x]^2 loses everything when the mean is large against the spread.
  """
  return nn.LayerNorm(
      epsilon=cfg.layer_norm_eps, dtype=jnp.float32, use_fast_variance=False,
      param_dtype=cfg.params_dtype, name=name,
      scale_init=nn.with_logical_partitioning(nn.initializers.ones, ('embed',)),
      bias_init=zeros_init(('embed',)))


def activation(name: str):
  if name == 'gelu':  # exact erf: BERT PyTorch, ELECTRA, SpanBERT
    return lambda x: nn.gelu(x, approximate=False)
  if name == 'gelu_tanh':  # BERT TF, ALBERT, GPT
    return lambda x: nn.gelu(x, approximate=True)
  raise ValueError(f'unknown activation {name!r}; use gelu or gelu_tanh')
