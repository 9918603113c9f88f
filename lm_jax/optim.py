"""The optimizer: global-norm clipping, Adam, decoupled weight decay and a
warmup/decay learning-rate schedule (algorithms.md §3.1-3.2)."""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lm_jax.errors import InputError


def learning_rate_schedule(optim_cfg, num_steps: int) -> optax.Schedule:
  """lr(t) = base * warm(t) * decay(t / num_steps) (§3.2).

  optim.warmup = 'multiply': warm = min(1, t / warmup), multiplying the decay,
  both acting from step 0, as in ELECTRA. 'replace': base * t / warmup while
  t < warmup, then the decayed value, as in BERT and ALBERT.
  decay: linear 1 - x, polynomial (1 - x)^power, cosine (1 + cos(pi x)) / 2,
  each scaled to end at optim.min_lr_fraction of the base (GPT-3: 10%).
  """
  base, warmup = optim_cfg.learning_rate, optim_cfg.warmup_steps
  kind, power = optim_cfg.schedule, optim_cfg.decay_power
  if kind not in ('linear', 'polynomial', 'cosine'):
    raise InputError(f'unknown optim.schedule {kind!r}; use linear, '
                     'polynomial or cosine')
  if optim_cfg.warmup not in ('multiply', 'replace'):
    raise InputError(f'unknown optim.warmup {optim_cfg.warmup!r}; use '
                     'multiply or replace')
  replace = optim_cfg.warmup == 'replace'
  floor = optim_cfg.min_lr_fraction

  def schedule(step):
    t = jnp.asarray(step, jnp.float32)
    x = jnp.minimum(t, num_steps) / num_steps
    if kind == 'linear':
      decay = 1.0 - x
    elif kind == 'polynomial':
      decay = (1.0 - x) ** power
    else:
      decay = 0.5 * (1.0 + jnp.cos(jnp.pi * x))
    decay = floor + (1.0 - floor) * decay
    if warmup <= 0:
      return base * decay
    if replace:
      return base * jnp.where(t < warmup, t / warmup, decay)
    return base * jnp.minimum(1.0, t / warmup) * decay

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


def layer_depth(names: list[str], num_layers: int, num_layer_groups: int = 1):
  """A parameter's depth for layer-wise learning-rate decay, from its path:
  0 for the embeddings (and their E->H projection), i + 1 for encoder layer i,
  num_layers + 1 for everything above (pooler, task heads), as ELECTRA's
  `_get_layer_lrs`. Scanned layers are stacked, so their depth is an array
  [num_layers] over the stacking axis. ALBERT's shared group g counts as the
  last layer that uses it."""
  if any('embeddings' in n for n in names):
    return 0
  if 'encoder' in names or 'discriminator' in names:
    if 'layers' in names:
      return np.arange(1, num_layers + 1)
    for n in names:
      if n.startswith(('attention_', 'ffn_')) and n.rsplit('_', 1)[1].isdigit():
        group = int(n.rsplit('_', 1)[1])
        return max(i for i in range(num_layers)
                   if i * num_layer_groups // num_layers == group) + 1
  return num_layers + 1


def scale_by_layer_decay(decay: float, num_layers: int,
                         num_layer_groups: int = 1
                         ) -> optax.GradientTransformation:
  """Multiplies each update by decay^(num_layers + 1 - depth): the top of the
  network trains at the full rate, the embeddings at decay^(L+1)."""

  def scales(params):
    def scale(path, p):
      names = [k.key for k in path if isinstance(k, jax.tree_util.DictKey)]
      depth = layer_depth(names, num_layers, num_layer_groups)
      if np.ndim(depth) and p.shape[0] < num_layers:
        depth = depth[num_layers - p.shape[0]:]  # the top layers of a stack
        #   whose first ones are frozen (lm_jax.partition)
      factor = np.asarray(decay ** (num_layers + 1 - np.asarray(depth)),
                          np.float32)
      return factor.reshape(factor.shape + (1,) * (p.ndim - factor.ndim))
    return jax.tree_util.tree_map_with_path(scale, params)

  def update(updates, state, params=None):
    del params
    return jax.tree.map(lambda u, s: u * s, updates, scales(updates)), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(),
                                      update)


def make_optimizer(optim_cfg, num_steps: int, num_layers: int = 0,
                   num_layer_groups: int = 1
                   ) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """clip -> Adam -> decoupled weight decay [-> LAMB trust ratio] -> lr
  [-> layer-wise decay].

  optim.decay_all_params applies weight decay to LayerNorm and biases too
  (SpanBERT's fairseq Adam); optim.trust_ratio scales each tensor's update by
  ||w|| / ||update|| (LAMB, ALBERT), on the tensors that decay;
  optim.layer_decay < 1 scales the learning rate of each encoder layer
  (ELECTRA fine-tuning, §3.4; needs num_layers).
  """
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
  mask = (lambda params: jax.tree.map(lambda _: True, params)
          ) if optim_cfg.decay_all_params else weight_decay_mask
  if optim_cfg.weight_decay > 0:
    parts.append(optax.add_decayed_weights(optim_cfg.weight_decay, mask=mask))
  if optim_cfg.trust_ratio:
    # optax sets the ratio to 1 where either norm is 0, as ALBERT does.
    parts.append(optax.masked(optax.scale_by_trust_ratio(), mask))
  parts.append(optax.scale_by_learning_rate(schedule))
  if optim_cfg.layer_decay != 1.0:
    if not 0 < optim_cfg.layer_decay < 1 or num_layers <= 0:
      raise InputError(f'optim.layer_decay must be in (0, 1], got '
                       f'{optim_cfg.layer_decay}')
    parts.append(scale_by_layer_decay(optim_cfg.layer_decay, num_layers,
                                      num_layer_groups))
  return optax.chain(*parts), schedule
