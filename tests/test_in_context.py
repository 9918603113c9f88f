"""lm_jax/in_context.py: zero- and few-shot multiple choice by a causal LM's
log-likelihood of each choice. The batched, bucketed scores against a plain
unpadded forward; demonstrations drawn by seed, never the question itself;
prompts fitted to the context; `python -m lm_jax.evaluate --task=sst2`;
one-line errors."""
import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from lm_jax import buckets, in_context, perplexity
from lm_jax.errors import InputError
from lm_jax.models.gpt import CausalLM
from lm_jax.trained_lm import open_causal_lm
from tests.conftest import REPO, assert_one_line
from tests.test_train_cli import cli_env

TASKS = os.path.join(REPO, 'tests', 'data', 'tasks')
PIQA = os.path.join(TASKS, 'piqa')
SST2 = os.path.join(TASKS, 'glue', 'SST-2')
COUNT = 16  # questions scored per test


@pytest.fixture(scope='module')
def gpt2(tiny_runs):
  return open_causal_lm(tiny_runs('gpt2_small'))


def reference_log_p(lm, context_ids, choice_ids) -> float:
  """log p(choice | context) from one unpadded row, float64 on the host."""
  tokens = np.asarray(context_ids + choice_ids, np.int32)
  ids_1xL = tokens[None, :-1]
  forward = jax.jit(CausalLM(lm.body).apply)  # op by op is slower
  logits_LxV = np.asarray(forward({'params': jax.device_get(lm.params)},
                                  ids_1xL, np.ones_like(ids_1xL))[0],
                          np.float64)
  log_p_LxV = logits_LxV - np.logaddexp.reduce(logits_LxV, axis=1,
                                               keepdims=True)
  positions = np.arange(len(tokens) - 1 - len(choice_ids), len(tokens) - 1)
  return float(log_p_LxV[positions, tokens[positions + 1]].sum())


def test_buckets_hold_every_row_once():
  lengths = [1, 16, 17, 40, 64, 3, 33, 5, 64, 20]
  seen = []
  for length, rows, index in buckets.batches(lengths, 64, shards=8):
    assert length in (16, 32, 64) and rows % 8 == 0 and len(index) <= rows
    assert all(length == min(b for b in (16, 32, 64) if b >= lengths[i])
               for i in index)
    seen.extend(index.tolist())
  assert sorted(seen) == list(range(len(lengths)))
  assert buckets.lengths(1024)[-1] == 1024 and buckets.lengths(16) == [16]


def test_batched_scores_match_an_unpadded_forward(gpt2):
  """Rows of every bucket, prompts cut to fit included: each choice's
  log-likelihood is the plain forward's, and the forward compiled at most
  once per bucket length."""
  data = in_context.read_task('piqa', PIQA, shots=1)
  prompts = in_context.build_prompts(data, gpt2.tokenizer, count=COUNT,
                                     shots=1, seed=0, max_positions=64)
  # pylint: disable=protected-access
  compiled = in_context._choice_log_p._cache_size
  before = compiled()
  log_p_NxC, tokens_NxC = in_context.log_likelihoods(gpt2, prompts)
  assert compiled() - before <= len(buckets.lengths(64))
  assert log_p_NxC.shape == (COUNT, 2) and np.all(log_p_NxC < 0)
  np.testing.assert_array_equal(
      tokens_NxC, [[len(c) for c in p.choice_ids] for p in prompts])
  lengths = [len(p.context_ids) + len(c) - 1 for p in prompts
             for c in p.choice_ids]
  # The shortest row, the longest (a cut prompt), and one between.
  for flat in sorted(set([int(np.argmin(lengths)), int(np.argmax(lengths)),
                          int(np.argsort(lengths)[len(lengths) // 2])])):
    i, j = divmod(flat, 2)
    expected = reference_log_p(gpt2, prompts[i].context_ids,
                               prompts[i].choice_ids[j])
    assert log_p_NxC[i, j] == pytest.approx(expected, rel=1e-5, abs=1e-5)
  assert any(p.truncated for p in prompts) and max(lengths) == 64


def test_accuracies_follow_the_scores(gpt2):
  data = in_context.read_task('piqa', PIQA)
  results = in_context.evaluate(gpt2, data, max_examples=COUNT,
                                log=lambda line: None)
  prompts = in_context.build_prompts(data, gpt2.tokenizer, count=COUNT,
                                     shots=0, seed=0, max_positions=64)
  log_p_NxC, tokens_NxC = in_context.log_likelihoods(gpt2, prompts)
  labels = np.asarray([q.label for q in data.questions[:COUNT]])
  assert results['accuracy_sum'] == np.mean(log_p_NxC.argmax(1) == labels)
  assert results['accuracy_mean'] == np.mean(
      (log_p_NxC / tokens_NxC).argmax(1) == labels)
  assert results['majority_baseline'] == np.bincount(labels).max() / COUNT
  assert (results['num_examples'], results['shots'], results['chance']) == (
      COUNT, 0, 0.5)
  # Zero-shot, the context is the end-of-text token and the prompt.
  i = next(i for i, p in enumerate(prompts) if not p.truncated)
  question = data.questions[i]
  assert question.prompt.startswith('Question: ')
  assert question.prompt.endswith('\nAnswer:')
  assert prompts[i].context_ids == tuple(
      perplexity.text_stream(gpt2.tokenizer, question.prompt))


def test_demonstrations_are_drawn_by_seed(gpt2, tmp_path):
  """Without a train split the other questions are the pool: the same seed
  gives the same prompts, another seed others, and a question is never its
  own demonstration."""
  for name in ('valid.jsonl', 'valid-labels.lst'):
    shutil.copy(os.path.join(PIQA, name), tmp_path / name)
  data = in_context.read_task('piqa', str(tmp_path), shots=3)
  assert data.own_pool and data.pool_split == 'valid'
  size = len(data.questions)

  def prompts(seed, count=COUNT):
    return in_context.build_prompts(data, gpt2.tokenizer, count=count,
                                    shots=3, seed=seed, max_positions=10_000)

  first = prompts(0)
  assert first == prompts(0)
  assert [p.demonstrations for p in first] != [
      p.demonstrations for p in prompts(1)]
  assert first[:4] == prompts(0, count=4)  # not changed by the count
  for i, prompt in enumerate(first):
    assert len(set(prompt.demonstrations)) == 3 and prompt.dropped == 0
    assert i not in prompt.demonstrations
    assert all(0 <= d < size for d in prompt.demonstrations)
    assert prompt.context_ids[0] == gpt2.tokenizer.eot_id
    text = gpt2.tokenizer.decode(prompt.context_ids[1:])
    assert text == ''.join(data.pool[d].solved + '\n\n'
                           for d in prompt.demonstrations) + (
                               data.questions[i].prompt)
  picks = in_context.demonstration_indices(size, size, size - 1, 5, True)
  for i, chosen in enumerate(picks):  # every other question, once each
    assert sorted(chosen) == [d for d in range(size) if d != i]
  with pytest.raises(InputError) as error:
    in_context.demonstration_indices(2, size, size, 0, True)
  assert_one_line(error, f'--shots={size}', f'{size - 1} questions')
  # With a train split, demonstrations come from it.
  assert in_context.read_task('piqa', PIQA, shots=1).pool_split == 'train'


def test_prompts_shrink_to_fit_the_context(gpt2):
  """Demonstrations go first, the farthest first; then the prompt loses its
  start; every row then fits the context."""
  data = in_context.read_task('sst2', SST2, shots=4)
  assert data.questions[0].choices == (' negative', ' positive')
  prompts = in_context.build_prompts(data, gpt2.tokenizer, count=COUNT,
                                     shots=4, seed=0, max_positions=64)
  full = in_context.build_prompts(data, gpt2.tokenizer, count=COUNT,
                                  shots=4, seed=0, max_positions=10_000)
  assert sum(p.dropped for p in prompts) > 0
  for question, short, long in zip(data.questions, prompts, full):
    assert len(short.context_ids) + max(map(len, short.choice_ids)) - 1 <= 64
    kept = len(short.demonstrations)
    assert short.demonstrations == long.demonstrations[4 - kept:]
    assert short.dropped == 4 - kept and long.dropped == 0
    if short.truncated:  # the end of the question alone
      assert kept == 0
      alone = perplexity.text_stream(gpt2.tokenizer, question.prompt)
      assert short.context_ids == tuple(alone[-len(short.context_ids):])


def test_cli_reports_few_shot_accuracy(tiny_runs):
  workdir = tiny_runs('gpt2_small')
  result = subprocess.run(
      [sys.executable, '-m', 'lm_jax.evaluate', '--task=sst2',
       f'--workdir={workdir}', f'--data={SST2}', '--shots=2', '--seed=3',
       f'--max_examples={COUNT}'], cwd=REPO, env=cli_env(),
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  print(result.stdout)
  with open(os.path.join(workdir, 'eval_results.json'), encoding='utf-8') as f:
    results = json.load(f)
  assert (results['task'], results['num_examples'], results['shots'],
          results['seed'], results['demonstrations_from']) == (
              'sst2', COUNT, 2, 3, 'train')
  assert 0 <= results['accuracy_sum'] <= 1
  assert 0 <= results['accuracy_mean'] <= 1
  with open(os.path.join(SST2, 'dev.tsv'), encoding='utf-8') as f:
    labels = [int(line.split('\t')[1]) for line in f.readlines()[1:COUNT + 1]]
  assert results['majority_baseline'] == max(labels.count(0),
                                             labels.count(1)) / COUNT
  for key in ('accuracy_sum', 'accuracy_mean', 'majority_baseline'):
    assert f'  {key}: ' in result.stdout


def test_bad_input_is_one_line(tiny_runs, tmp_path):
  gpt2_dir = tiny_runs('gpt2_small')
  with pytest.raises(InputError) as error:
    in_context.run(gpt2_dir, 'piqa', str(tmp_path / 'none'))
  assert_one_line(error, str(tmp_path / 'none'), 'not a directory')
  with pytest.raises(InputError) as error:
    in_context.run(gpt2_dir, 'sst2', str(tmp_path))
  assert_one_line(error, str(tmp_path), 'SST-2 dev', 'dev.tsv')
  with pytest.raises(InputError) as error:
    in_context.run(gpt2_dir, 'piqa', PIQA, shots=-1)
  assert_one_line(error, '--shots', '-1')
  # An empty line, and an empty goal: the file and line named.
  with open(os.path.join(PIQA, 'valid.jsonl'), encoding='utf-8') as f:
    lines = f.readlines()
  shutil.copy(os.path.join(PIQA, 'valid-labels.lst'),
              tmp_path / 'valid-labels.lst')
  bad = tmp_path / 'valid.jsonl'
  bad.write_text(''.join(lines[:2] + ['\n'] + lines[3:]), encoding='utf-8')
  with pytest.raises(InputError) as error:
    in_context.read_task('piqa', str(tmp_path))
  assert_one_line(error, f'{bad}:3')
  goal = json.dumps(dict(json.loads(lines[4]), goal=' ')) + '\n'
  bad.write_text(''.join(lines[:4] + [goal] + lines[5:]), encoding='utf-8')
  with pytest.raises(InputError) as error:
    in_context.read_task('piqa', str(tmp_path))
  assert_one_line(error, f'{bad}:5', 'empty goal')
  # An encoder's workdir, from the command line: one error line, before the
  # model is built.
  electra_dir = tiny_runs('electra_small')
  result = subprocess.run(
      [sys.executable, '-m', 'lm_jax.evaluate', '--task=piqa',
       f'--workdir={electra_dir}', f'--data={PIQA}'], cwd=REPO,
      env=cli_env(), capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == (
      f'error: --task=piqa scores choices with a causal LM (configs/gpt1.py, '
      f'configs/gpt2_*.py); {electra_dir} holds an electra model')
