"""The optimizer: global-norm clipping, Adam, decoupled weight decay and a
warmup/decay learning-rate schedule (algorithms.md §3.1-3.2)."""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from lm_jax.errors import InputError


def learning_rate_schedule(optim_cfg, num_steps: int) -> optax.Schedule:
  """lr(t) = base * min(1, t / warmup) * decay(t / num_steps).

  Warmup multiplies the decay, both acting from step 0, as in ELECTRA.
  decay: linear 1 - x, polynomial (1 - x)^power, cosine (1 + cos(pi x)) / 2.
  """
  base, warmup = optim_cfg.learning_rate, optim_cfg.warmup_steps
  kind, power = optim_cfg.schedule, optim_cfg.decay_power
  if kind not in ('linear', 'polynomial', 'cosine'):
    raise InputError(f'unknown optim.schedule {kind!r}; use linear, '
                     'polynomial or cosine')

  def schedule(step):
    t = jnp.asarray(step, jnp.float32)
    x = jnp.minimum(t, num_steps) / num_steps
    if kind == 'linear':
      decay = 1.0 - x
    elif kind == 'polynomial':
      decay = (1.0 - x) ** power
    else:
      decay = 0.5 * (1.0 + jnp.cos(jnp.pi * x))
    warm = jnp.minimum(1.0, t / warmup) if warmup > 0 else 1.0
    return base * warm * decay

  return schedule


class ScaleByAdamState(NamedTuple):
  mu: optax.Updates
  nu: optax.Updates


def scale_by_adam_without_bias_correction(
    b1: float, b2: float, eps: float) -> optax.GradientTransformation:
  """m / (sqrt(v) + eps) with plain EMAs, as BERT's AdamWeightDecay."""

  def init(params):
    zeros = lambda p: jnp.zeros_like(p, jnp.float32)
    return ScaleByAdamState(jax.tree.map(zeros, params),
                            jax.tree.map(zeros, params))

  def update(grads, state, params=None):
    del params
    mu = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, grads)
    nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, state.nu, grads)
    updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu, nu)
    return updates, ScaleByAdamState(mu, nu)

  return optax.GradientTransformation(init, update)


def weight_decay_mask(params):
  """True for parameters that decay: not biases and not LayerNorm scales."""

  def decays(path, _):
    names = [k.key for k in path if isinstance(k, jax.tree_util.DictKey)]
    leaf = names[-1] if names else ''
    return not (leaf.endswith('bias') or leaf == 'scale'
                or any('layer_norm' in n for n in names))

  return jax.tree_util.tree_map_with_path(decays, params)


def make_optimizer(optim_cfg, num_steps: int
                   ) -> tuple[optax.GradientTransformation, optax.Schedule]:
  schedule = learning_rate_schedule(optim_cfg, num_steps)
  if optim_cfg.bias_correction:
    adam = optax.scale_by_adam(optim_cfg.b1, optim_cfg.b2, optim_cfg.eps)
  else:
    adam = scale_by_adam_without_bias_correction(
        optim_cfg.b1, optim_cfg.b2, optim_cfg.eps)
  parts = []
  if optim_cfg.clip_norm > 0:
    parts.append(optax.clip_by_global_norm(optim_cfg.clip_norm))
  parts.append(adam)
  if optim_cfg.weight_decay > 0:
    parts.append(optax.add_decayed_weights(optim_cfg.weight_decay,
                                           mask=weight_decay_mask))
  parts.append(optax.scale_by_learning_rate(schedule))
  return optax.chain(*parts), schedule
