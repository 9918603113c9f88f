"""lm_jax/generation.py: cached decoding gives exactly the tokens of full
recomputation, left padding changes nothing, generation stops at the end
token, and bad settings or prompts are refused in one line."""
import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from conftest import assert_one_line, load_named_config
from lm_jax import generation
from lm_jax.errors import InputError
from lm_jax.models.gpt import CausalLM
from lm_jax.models.model_config import from_model_config

EOT = 96
PROMPTS = [[5, 17, 3, 44, 8, 21], [9], [30, 2, 71]]


@pytest.fixture(scope='module', params=['gpt1', 'gpt2_small'])
def tiny(request):
  """A random tiny model with spread-out logits (init_std 0.3), so greedy
  choices are not near ties."""
  c = load_named_config(request.param, 'tiny')
  config = dataclasses.replace(from_model_config(c.model, 97), init_std=0.3,
                               max_positions=24)
  ids = jnp.zeros((1, 4), jnp.int32)
  params = nn.unbox(CausalLM(config).init(jax.random.key(0), ids,
                                          jnp.ones_like(ids))['params'])
  return config, params


@pytest.mark.parametrize('settings', [
    generation.Settings(max_new_tokens=10),
    generation.Settings(max_new_tokens=10, temperature=0.7, top_k=20,
                        top_p=0.8, seed=4),
], ids=['greedy', 'sampled'])
def test_cached_decoding_equals_full_recomputation(tiny, settings):
  config, params = tiny
  kwargs = dict(eot_id=EOT, pad_id=0)
  cached = generation.generate(config, params, PROMPTS, settings, **kwargs)
  assert cached == generation.recompute_reference(config, params, PROMPTS,
                                                  settings, **kwargs)
  assert any(len(row) == 10 for row in cached)
  # A row alone (no padding) gives what it gave in the padded batch.
  if settings.temperature == 0:
    assert generation.generate(config, params, PROMPTS[1:2], settings,
                               **kwargs) == cached[1:2]


def test_sampling_follows_the_seed(tiny):
  config, params = tiny
  run = lambda seed: generation.generate(
      config, params, PROMPTS, generation.Settings(
          max_new_tokens=10, temperature=1.0, seed=seed), eot_id=EOT, pad_id=0)
  assert run(1) == run(1)
  assert run(1) != run(2)


def test_stops_at_the_end_token(tiny):
  config, params = tiny
  settings = generation.Settings(max_new_tokens=10)
  first = generation.generate(config, params, PROMPTS, settings, eot_id=EOT,
                              pad_id=0)[0]
  # Make the greedy path's third token the end token: output stops before it.
  stopped = generation.generate(config, params, PROMPTS[:1], settings,
                                eot_id=first[2], pad_id=0)[0]
  assert stopped == first[:first.index(first[2])]


def test_bad_prompts_and_settings(tiny):
  config, params = tiny
  go = lambda prompts, **s: generation.generate(
      config, params, prompts, generation.Settings(**s), eot_id=EOT, pad_id=0)
  with pytest.raises(InputError) as e:
    go([[1, 2], []], max_new_tokens=4)
  assert_one_line(e, 'prompt 1 is empty')
  with pytest.raises(InputError) as e:
    go([list(range(1, 22))], max_new_tokens=4)  # 21 + 4 > 24 positions
  assert_one_line(e, 'prompt 0 has 21 tokens', 'context of 24', '--truncate')
  with pytest.raises(InputError) as e:
    go([[1]], max_new_tokens=4, temperature=1.0, top_p=1.5)
  assert_one_line(e, '--top_p')
  with pytest.raises(InputError) as e:
    go([[1]], max_new_tokens=0)
  assert_one_line(e, '--max_new_tokens')
  # Truncating from the left keeps the prompt's end.
  long = list(range(1, 22))
  assert go([long], max_new_tokens=4, truncate=True) == go(
      [long[-20:]], max_new_tokens=4)
