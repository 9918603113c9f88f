"""lm_jax/sentence_embeddings.py: mean-pooled final states of a pretrained
body, untrained, against a plain unpadded forward (padding and batch-mates
change nothing); STS-B's Spearman against scipy's on the same cosines;
`python -m lm_jax.evaluate --task=stsb`; one-line errors."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from scipy import stats

from lm_jax import buckets, sentence_embeddings
from lm_jax.errors import InputError
from lm_jax.trained_lm import open_trained
from tests.conftest import REPO, assert_one_line
from tests.test_train_cli import cli_env

STSB = os.path.join(REPO, 'tests', 'data', 'tasks', 'glue', 'STS-B')
COUNT = 16  # pairs scored

SHORT = 'A man plays.'
SIMILAR = 'A man is playing a large guitar.'  # in SHORT's bucket
LONG = ('Three children are riding their bicycles down the hill towards the '
        'old stone bridge by the river.')


@pytest.fixture(scope='module')
def electra(tiny_runs):
  return open_trained(tiny_runs('electra_small'))


def reference_embedding(trained, text: str) -> np.ndarray:
  """The mean of the body's final states over one unpadded row."""
  rows, _ = sentence_embeddings.token_rows(trained, [text])
  ids_1xL = np.asarray(rows, np.int32)
  forward = jax.jit(sentence_embeddings.Body(trained.body).apply)
  h_LxH = forward({'params': jax.device_get(
      sentence_embeddings.body_params(trained))}, ids_1xL,
                  np.ones_like(ids_1xL))[0]
  return np.asarray(h_LxH, np.float64).mean(axis=0)


@pytest.mark.parametrize('name', ['electra_small', 'bert_base', 'gpt2_small'])
def test_mean_pooling_ignores_padding(tiny_runs, electra, name):
  """A sentence's embedding is its unpadded row's mean, alone or batched
  with a longer sentence of its bucket and one of a longer bucket."""
  trained = electra if name == 'electra_small' else open_trained(
      tiny_runs(name))
  rows, truncated = sentence_embeddings.token_rows(trained,
                                                   [SHORT, SIMILAR, LONG])
  assert truncated == 0
  lengths = [len(r) for r in rows]
  assert lengths[0] < lengths[1] <= buckets.MIN_BUCKET < lengths[2]
  together = sentence_embeddings.embed(trained, [SHORT, SIMILAR, LONG])
  alone = sentence_embeddings.embed(trained, [SHORT])
  assert together.shape == (3, trained.body.hidden_size)
  np.testing.assert_allclose(alone[0], together[0], rtol=1e-5, atol=1e-6)
  for text, embedding in zip([SHORT, LONG], together[[0, 2]]):
    np.testing.assert_allclose(embedding, reference_embedding(trained, text),
                               rtol=1e-5, atol=1e-5)


def test_spearman_is_scipys_on_the_cosines(electra):
  pairs = sentence_embeddings.read_stsb(STSB)
  results = sentence_embeddings.evaluate_stsb(electra, pairs,
                                              max_examples=COUNT)
  pairs = pairs[:COUNT]
  embeddings = sentence_embeddings.embed(
      electra, [p.text_a for p in pairs] + [p.text_b for p in pairs])
  u, v = np.split(embeddings.astype(np.float64), 2)
  cosines = np.sum(u * v, 1) / np.linalg.norm(u, axis=1) / np.linalg.norm(
      v, axis=1)
  gold = [p.label for p in pairs]
  assert results['num_examples'] == COUNT
  assert results['spearman'] == pytest.approx(
      stats.spearmanr(gold, cosines).statistic, abs=1e-9)
  assert results['pearson'] == pytest.approx(
      stats.pearsonr(gold, cosines).statistic, abs=1e-9)
  assert results['sentences_truncated'] == 0


def test_cli_reports_the_correlation(tiny_runs):
  workdir = tiny_runs('electra_small')
  result = subprocess.run(
      [sys.executable, '-m', 'lm_jax.evaluate', '--task=stsb',
       f'--workdir={workdir}', f'--data={os.path.dirname(STSB)}',
       f'--max_examples={COUNT}'], cwd=REPO, env=cli_env(),
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  print(result.stdout)
  with open(os.path.join(workdir, 'eval_results.json'), encoding='utf-8') as f:
    results = json.load(f)
  assert (results['task'], results['num_examples']) == ('stsb', COUNT)
  assert -1 <= results['spearman'] <= 1 and -1 <= results['pearson'] <= 1
  assert '  spearman: ' in result.stdout and '  pearson: ' in result.stdout


def test_bad_input_is_one_line(tiny_runs, tmp_path):
  workdir = tiny_runs('electra_small')
  with pytest.raises(InputError) as error:
    sentence_embeddings.run_stsb(workdir, str(tmp_path / 'none'))
  assert_one_line(error, str(tmp_path / 'none'), 'not a directory')
  with pytest.raises(InputError) as error:
    sentence_embeddings.run_stsb(workdir, str(tmp_path))
  assert_one_line(error, str(tmp_path), 'STS-B dev', 'dev.tsv')
  with open(os.path.join(STSB, 'dev.tsv'), encoding='utf-8') as f:
    lines = f.readlines()
  bad = tmp_path / 'dev.tsv'
  bad.write_text(''.join(lines[:3] + ['\t'.join(
      lines[3].split('\t')[:-1] + ['high\n'])] + lines[4:]), encoding='utf-8')
  with pytest.raises(InputError) as error:
    sentence_embeddings.run_stsb(workdir, str(tmp_path))
  assert_one_line(error, f'{bad}:4', "'high'")
  with pytest.raises(InputError) as error:
    sentence_embeddings.run_stsb(workdir, STSB, max_examples=-2)
  assert_one_line(error, '--max_examples', '-2')
  result = subprocess.run(
      [sys.executable, '-m', 'lm_jax.evaluate', '--task=stsb',
       f'--workdir={workdir}', f'--data={tmp_path / "none"}'], cwd=REPO,
      env=cli_env(), capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == (
      f'error: --data {tmp_path / "none"} is not a directory (the folder of '
      'STS-B\'s dev.tsv)')
