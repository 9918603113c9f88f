"""configs/*.py: every config and variant loads and passes its checks; every
`:tiny` variant learns on the embedded corpus with the same trainer."""
import json
import os

import pytest

from lm_jax import config_base
from lm_jax.objectives import get_objective
from tests.conftest import TINY_STEPS, load_named_config

CONFIGS = {
    'electra_small': ['', 'released', 'tiny'],
    'electra_base': ['', 'tiny'],
    'electra_large': ['', 'tiny'],
    'bert_small': ['', 'tiny'],
    'bert_base': ['', 'wwm', 'tiny'],
    'bert_large': ['', 'wwm', 'tiny'],
    'albert_base': ['', 'large', 'xlarge', 'xxlarge', 'tiny'],
    'spanbert_base': ['', 'tiny'],
    'distilbert': ['', 'tiny'],
    'gpt1': ['', 'tiny'],
    'gpt2_small': ['', 'tiny'],
    'gpt2_medium': ['', 'tiny'],
    'gpt2_large': ['', 'tiny'],
    'gpt2_xl': ['', 'tiny'],
    'gpt3': ['125M', '350M', '760M', '1.3B', '2.7B', '6.7B', '13B', '175B',
             'tiny'],
}


def test_every_config_file_is_listed():
  files = {f[:-3] for f in os.listdir(os.path.join(
      os.path.dirname(os.path.dirname(__file__)), 'configs')) if f.endswith('.py')}
  assert files == set(CONFIGS)


@pytest.mark.parametrize('name, variant', [(n, v) for n, vs in CONFIGS.items()
                                           for v in vs])
def test_config_loads_and_checks(name, variant):
  config = load_named_config(name, variant)
  config_base.check(config)
  objective = get_objective(config.objective.name)
  if objective.name != 'distillation':  # needs a teacher workdir
    objective.check(config)


def test_unknown_variant_is_refused():
  with pytest.raises(ValueError, match="unknown variant 'huge' of bert_base.py"):
    load_named_config('bert_base', 'huge')


def test_gpt3_needs_a_size():
  with pytest.raises(ValueError, match="unknown variant '' of gpt3.py; known: 125M"):
    load_named_config('gpt3')


def test_released_electra_small_has_a_full_size_generator():
  assert load_named_config('electra_small', 'released').objective.generator_hidden_fraction == 1.0


def test_bert_large_tiny_is_bert_base_tiny():
  """The `:tiny` shape replaces the size: bert_large:tiny trains exactly the
  run test_tiny_variant_learns[bert_base] checks."""
  assert (load_named_config('bert_large', 'tiny').to_json()
          == load_named_config('bert_base', 'tiny').to_json())


def test_electra_large_tiny_is_electra_base_tiny_but_its_mask_rate():
  """electra_large:tiny trains the run test_tiny_variant_learns[electra_base]
  checks, masking 25% (the Large recipe) instead of 15%."""
  large = load_named_config('electra_large', 'tiny')
  assert large.objective.mask_prob == 0.25
  large.objective.mask_prob = 0.15
  assert large.to_json() == load_named_config('electra_base', 'tiny').to_json()


def rows(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [r for r in map(json.loads, f) if 'loss' in r]


@pytest.mark.slow
@pytest.mark.parametrize('name, heads', [
    ('bert_small', ['mlm']),
    ('bert_base', ['mlm', 'nsp']),
    ('albert_base', ['mlm', 'sop']),
    ('spanbert_base', ['mlm', 'sbo']),
    ('electra_base', ['mlm', 'disc']),
    ('distilbert', ['mlm', 'kl', 'cosine']),
])
def test_tiny_variant_learns(tiny_runs, name, heads):
  """`python -m lm_jax.train --config=configs/NAME.py:tiny` for TINY_STEPS:
  the loss goes down and every head's loss and accuracy is logged."""
  logged = rows(tiny_runs(name))
  assert [r['step'] for r in logged] == list(range(10, TINY_STEPS + 1, 10))
  mean = lambda part: sum(r['loss'] for r in part) / len(part)
  assert mean(logged[-3:]) < mean(logged[:3]) - 0.1, [r['loss'] for r in logged]
  for head in heads:
    assert f'{head}_loss' in logged[-1]
  assert 'mlm_accuracy' in logged[-1]
