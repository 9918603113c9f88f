"""Text continuation from a causal LM with a key/value cache.

A batch of prompts of different lengths is left-padded to the longest, so
that every row's next token is written at the same cache slot: the padding
is masked out as keys, and each row's positions count its real tokens only
(a row's first real token is at position 0 whatever its padding). One jitted
prefill runs the prompts through the model and fills the cache; a jitted
`lax.while_loop` then feeds one token per step, until `max_new_tokens` or
until every row has produced the end-of-text token. Token choice is
`sampling.next_token` (greedy, temperature, top-k, top-p) with the key of
step t = fold_in(key(seed), t), so the same seed gives the same text, and
`recompute_reference` (the same choices from full forward passes without a
cache) gives exactly the same tokens.
"""
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from lm_jax import sampling
from lm_jax.errors import InputError
from lm_jax.models.gpt import CausalLM
from lm_jax.models.model_config import TransformerConfig


PROMPT_BUCKET = 16


@dataclasses.dataclass(frozen=True)
class Settings:
  max_new_tokens: int = 50
  temperature: float = 0.0  # 0: greedy
  top_k: int = 0  # 0: off
  top_p: float = 1.0  # 1: off
  seed: int = 0
  truncate: bool = False  # a prompt too long for the context: keep its end

  def check(self) -> None:
    sampling.check_settings(self.temperature, self.top_k, self.top_p)
    if self.max_new_tokens < 1:
      raise InputError(f'--max_new_tokens must be >= 1, got '
                       f'{self.max_new_tokens}')


def left_pad(prompts: list[list[int]], settings: Settings, context: int,
             pad_id: int) -> tuple[np.ndarray, np.ndarray]:
  """(ids [B, P], mask [B, P]) with each prompt at the right end of its row.

  Refuses an empty prompt, and a prompt that leaves no room in the context
  for max_new_tokens (or keeps its last tokens, with settings.truncate)."""
  room = context - settings.max_new_tokens
  if room < 1:
    raise InputError(f'--max_new_tokens {settings.max_new_tokens} leaves no '
                     f'room for a prompt in the model\'s context of {context} '
                     'tokens')
  kept = []
  for i, prompt in enumerate(prompts):
    if not len(prompt):
      raise InputError(f'prompt {i} is empty (no tokens): give the model some '
                       'text to continue')
    if len(prompt) > room:
      if not settings.truncate:
        raise InputError(
            f'prompt {i} has {len(prompt)} tokens; with max_new_tokens '
            f'{settings.max_new_tokens} the model\'s context of {context} '
            f'holds {room}: shorten it, lower max_new_tokens, or truncate it '
            'from the left (--truncate)')
      prompt = prompt[-room:]
    kept.append(list(prompt))
  # Widths rounded up to a multiple of PROMPT_BUCKET, so prompts of similar
  # lengths share one compiled program. More left padding changes nothing:
  # it is masked, and positions count real tokens only.
  width = -(-max(len(p) for p in kept) // PROMPT_BUCKET) * PROMPT_BUCKET
  ids_BxP = np.full((len(kept), width), pad_id, np.int32)
  mask_BxP = np.zeros((len(kept), width), np.int32)
  for row, prompt in enumerate(kept):
    ids_BxP[row, width - len(prompt):] = prompt
    mask_BxP[row, width - len(prompt):] = 1
  return ids_BxP, mask_BxP


def _choose(logits_BxV, step, seed_key, settings: Settings):
  rng = jax.random.fold_in(seed_key, step)
  return sampling.next_token(logits_BxV, rng, temperature=settings.temperature,
                             top_k=settings.top_k, top_p=settings.top_p)


@functools.partial(jax.jit, static_argnames=('config', 'settings', 'eot_id'))
def _generate(params, ids_BxP, mask_BxP, seed_key, *,
              config: TransformerConfig, settings: Settings, eot_id: int):
  """New tokens [B, max_new_tokens]; after a row's end-of-text, eot_id.
  The seed is `seed_key` (traced: a new seed compiles nothing), not
  settings.seed."""
  model = CausalLM(config, deterministic=True, decode=True)
  batch, prompt_len = ids_BxP.shape
  num_slots = prompt_len + settings.max_new_tokens
  # The cache has a slot per padded prompt token and new token: more than
  # max_positions when the padding is long; positions stay within them.
  slots_BxS = jnp.zeros((batch, num_slots), jnp.int32)
  cache_shapes = jax.eval_shape(
      functools.partial(model.init, method=CausalLM.hidden), jax.random.key(0),
      slots_BxS, jnp.ones_like(slots_BxS), slots_BxS)['cache']
  cache = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), cache_shapes)
  # Slots after the prompt are written one per step; until then the causal
  # mask keeps them out of sight.
  key_mask_BxS = jnp.concatenate(
      [mask_BxP, jnp.ones((batch, settings.max_new_tokens), jnp.int32)], axis=1)
  lengths_B = jnp.sum(mask_BxP, axis=1)

  def run(cache, ids_BxL, positions_BxL, slot):
    h_BxLxH, updated = model.apply(
        {'params': params, 'cache': cache}, ids_BxL, key_mask_BxS,
        positions_BxL, slot, method=CausalLM.hidden, mutable=['cache'])
    logits_BxV = model.apply({'params': params}, h_BxLxH[:, -1:],
                             method=CausalLM.logits)[:, 0]
    return logits_BxV, updated['cache']

  positions_BxP = jnp.maximum(jnp.cumsum(mask_BxP, axis=1) - 1, 0)
  logits_BxV, cache = run(cache, ids_BxP, positions_BxP, 0)
  token_B = _choose(logits_BxV, 0, seed_key, settings)
  out_BxN = jnp.full((batch, settings.max_new_tokens), eot_id, jnp.int32)
  out_BxN = out_BxN.at[:, 0].set(token_B)
  done_B = token_B == eot_id

  def cond(carry):
    step, _, _, _, done_B = carry
    return (step < settings.max_new_tokens) & ~jnp.all(done_B)

  def body(carry):
    step, cache, token_B, out_BxN, done_B = carry
    positions_Bx1 = (lengths_B + step - 1)[:, None]
    logits_BxV, cache = run(cache, token_B[:, None], positions_Bx1,
                            prompt_len + step - 1)
    token_B = jnp.where(done_B, eot_id,
                        _choose(logits_BxV, step, seed_key, settings))
    out_BxN = jax.lax.dynamic_update_slice(out_BxN, token_B[:, None],
                                           (0, step))
    return step + 1, cache, token_B, out_BxN, done_B | (token_B == eot_id)

  carry = (jnp.int32(1), cache, token_B, out_BxN, done_B)
  return jax.lax.while_loop(cond, body, carry)[3]


def generate(config: TransformerConfig, params, prompts: list[list[int]],
             settings: Settings, *, eot_id: int, pad_id: int
             ) -> list[list[int]]:
  """Each prompt's continuation as ids, up to (not including) the first
  end-of-text token, at most settings.max_new_tokens long.

  Args:
    config: the model's body (causal).
    params: the CausalLM's parameters.
    prompts: token ids, one list per prompt, any lengths.
    settings: how many tokens, and how they are chosen.
    eot_id: generation of a row stops when it produces this token.
    pad_id: fills the left padding (masked out; any id works).
  """
  settings.check()
  ids_BxP, mask_BxP = left_pad(prompts, settings, config.max_positions, pad_id)
  # Rematerialisation saves training memory; decoding keeps no activations.
  config = dataclasses.replace(config, remat='none')
  out_BxN = np.asarray(_generate(
      params, ids_BxP, mask_BxP, jax.random.key(settings.seed), config=config,
      settings=dataclasses.replace(settings, seed=0), eot_id=eot_id))
  return [_until(row, eot_id) for row in out_BxN.tolist()]


def _until(ids: list[int], eot_id: int) -> list[int]:
  return ids[:ids.index(eot_id)] if eot_id in ids else ids


def recompute_reference(config: TransformerConfig, params,
                        prompts: list[list[int]], settings: Settings, *,
                        eot_id: int, pad_id: int) -> list[list[int]]:
  """`generate` without a cache: every step runs the whole sequence so far
  (in a row of fixed width, the slots not yet written masked, so it compiles
  once). Quadratic; a reference for tests, not for use."""
  model = CausalLM(config, deterministic=True)
  ids_BxP, mask_BxP = left_pad(prompts, settings, config.max_positions, pad_id)
  prompt_len = ids_BxP.shape[1]
  tail_BxN = jnp.zeros((len(prompts), settings.max_new_tokens), jnp.int32)
  ids_BxS = jnp.concatenate([jnp.asarray(ids_BxP), tail_BxN], axis=1)
  mask_BxS = jnp.concatenate([jnp.asarray(mask_BxP), tail_BxN], axis=1)

  @jax.jit
  def last_logits(ids_BxS, mask_BxS, slot):
    positions_BxS = jnp.maximum(jnp.cumsum(mask_BxS, axis=1) - 1, 0)
    h_BxSxH = model.apply({'params': params}, ids_BxS, mask_BxS, positions_BxS,
                          method=CausalLM.hidden)
    h_Bx1xH = jax.lax.dynamic_slice_in_dim(h_BxSxH, slot, 1, axis=1)
    return model.apply({'params': params}, h_Bx1xH,
                       method=CausalLM.logits)[:, 0]

  done_B = jnp.zeros(len(prompts), bool)
  for step in range(settings.max_new_tokens):
    slot = prompt_len + step
    logits_BxV = last_logits(ids_BxS, mask_BxS, slot - 1)
    token_B = jnp.where(done_B, eot_id, _choose(
        logits_BxV, step, jax.random.key(settings.seed), settings))
    done_B = done_B | (token_B == eot_id)
    ids_BxS = ids_BxS.at[:, slot].set(token_B)
    mask_BxS = mask_BxS.at[:, slot].set(1)
  out_BxN = np.asarray(ids_BxS[:, prompt_len:])
  return [_until(row, eot_id) for row in out_BxN.tolist()]
