"""Building blocks shared by the models: initializers that carry logical axis
names, the f32 LayerNorm, and the activations (algorithms.md §2.1)."""
import flax.linen as nn
import jax.numpy as jnp

from lm_jax.models.model_config import TransformerConfig


def normal_init(cfg: TransformerConfig, names: tuple):
  """Truncated normal(init_std), BERT's initializer for kernels and tables."""
  return nn.with_logical_partitioning(
      nn.initializers.truncated_normal(cfg.init_std), names)


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
