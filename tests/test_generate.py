"""lm_jax/generate.py and lm_jax/trained_lm.py: a causal LM opened from its
workdir continues prompts, the same seed gives the same text, and bad input
(settings, prompts, an encoder's workdir, prompt files) is one error line."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, TINY_STEPS, assert_one_line, load_named_config
from lm_jax import generation, trained_lm
from lm_jax.checkpointing import CHECKPOINTS, Checkpointer
from lm_jax.errors import InputError
from test_train_cli import cli_env


def generate_cli(*args):
  return subprocess.run([sys.executable, '-m', 'lm_jax.generate', *args],
                        cwd=REPO, env=cli_env(), capture_output=True,
                        text=True, timeout=300)


@pytest.fixture(scope='module')
def gpt2(tiny_runs):
  return tiny_runs('gpt2_small')


@pytest.fixture(scope='module')
def lm(gpt2):
  return trained_lm.open_causal_lm(gpt2)


def test_cli_continues_the_prompt(gpt2):
  result = generate_cli(f'--workdir={gpt2}', '--prompt=It was a dark',
                        '--max_new_tokens=12')
  assert result.returncode == 0, result.stderr
  assert result.stdout.startswith('It was a dark')
  assert len(result.stdout.rstrip('\n')) > len('It was a dark')


def test_cli_bad_setting_is_one_error_line(gpt2):
  result = generate_cli(f'--workdir={gpt2}', '--prompt=It was', '--top_p=1.5')
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == (
      'error: --top_p must be in (0, 1] (1 disables it), got 1.5')


def test_opens_the_workdir_as_trained(lm):
  config = load_named_config('gpt2_small', 'tiny')
  assert lm.step == TINY_STEPS and lm.body.causal
  assert lm.body.max_positions == config.model.max_positions
  assert lm.body.hidden_size == config.model.hidden_size
  assert lm.tokenizer.vocab_size == lm.body.vocab_size
  assert lm.tokenizer.decode(lm.tokenizer.encode('It was')) == 'It was'


def test_the_same_seed_gives_the_same_text(lm):
  sample = lambda seed: trained_lm.continue_prompts(
      lm, ['It was a dark', 'The'], generation.Settings(
          max_new_tokens=10, temperature=1.0, seed=seed))
  first = sample(3)
  assert first == sample(3)
  assert first != sample(4)
  assert all(text for text in first)


def test_generate_text_returns_prompt_and_continuation(lm, gpt2):
  prompts = ['It was a dark', 'The']
  texts = trained_lm.generate_text(gpt2, prompts, max_new_tokens=8)
  # Greedy rows do not depend on the batch they are generated in.
  alone = trained_lm.continue_prompts(
      lm, prompts, generation.Settings(max_new_tokens=8), batch_size=1)
  assert texts == [prompt + text for prompt, text in zip(prompts, alone)]


@pytest.mark.parametrize('prompts, settings, wheres', [
    ([''], {}, ['prompt 0 is empty']),
    (['a', ''], {}, ['prompt 1 is empty']),
    (['a'], {'top_p': 1.5}, ['--top_p', '1.5']),
    (['a'], {'temperature': -1.0}, ['--temperature', '-1.0']),
    (['word ' * 60], {'max_new_tokens': 20}, ['prompt 0 has', '--truncate']),
    (['a'], {'max_new_tokens': 64}, ['--max_new_tokens 64', 'no room']),
])
def test_bad_settings_and_prompts_are_one_line(lm, prompts, settings, wheres):
  with pytest.raises(InputError) as e:
    trained_lm.continue_prompts(lm, prompts, generation.Settings(**settings))
  assert_one_line(e, *wheres)


def test_truncate_keeps_the_end_of_a_long_prompt(lm):
  settings = generation.Settings(max_new_tokens=20, truncate=True)
  long = 'word ' * 60 + 'It was a dark'
  ids = lm.tokenizer.encode(long)
  assert len(ids) > 44
  end = lm.tokenizer.decode(ids[-44:])
  assert trained_lm.continue_prompts(lm, [long], settings) == (
      trained_lm.continue_prompts(lm, [end], settings))


def encoder_workdir(path) -> str:
  """A workdir whose checkpoint says ELECTRA: a stand-in state and the
  metadata a real run writes (no training)."""
  config = load_named_config('electra_small', 'tiny')
  checkpointer = Checkpointer(os.path.join(path, CHECKPOINTS),
                              use_async=False)
  checkpointer.save(1, {'w': np.zeros(2, np.float32)},
                    {'config': json.loads(config.to_json()), 'vocab_id': 'v',
                     'vocab_size': 10, 'vocab_file': 'vocab.txt'}, force=True)
  checkpointer.close()
  return str(path)


def test_an_encoder_or_missing_workdir_is_refused(tmp_path):
  workdir = encoder_workdir(tmp_path / 'electra')
  with pytest.raises(InputError) as e:
    trained_lm.generate_text(workdir, ['a'])
  assert assert_one_line(e) == (
      f'{workdir} holds an electra model (an encoder); generation needs a '
      'causal LM (configs/gpt1.py, configs/gpt2_*.py)')
  with pytest.raises(InputError) as e:
    trained_lm.generate_text(str(tmp_path / 'none'), ['a'])
  assert_one_line(e, 'none is not an lm_jax workdir')


def test_prompts_file_is_json_lines(tmp_path):
  path = tmp_path / 'p.jsonl'
  path.write_text('{"prompt": "It was"}\n\n{"prompt": "a\\nb", "x": 1}\n')
  assert trained_lm.read_prompts(str(path)) == ['It was', 'a\nb']
  path.write_text('{"prompt": "It was"}\nIt was a dark\n')
  with pytest.raises(InputError) as e:
    trained_lm.read_prompts(str(path))
  assert_one_line(e, f'{path} line 2', 'not JSON')
  with pytest.raises(InputError) as e:
    trained_lm.read_prompts(str(tmp_path / 'none.jsonl'))
  assert_one_line(e, '--prompts_file', 'none.jsonl')
