"""lm_jax/evaluate.py and evaluation during training: held-out MLM figures
from a saved checkpoint, the same every run."""
import json
import os
import subprocess
import sys

import pytest

from lm_jax import trainer
from tests.conftest import REPO
from tests.test_train_cli import cli_env

HELD_OUT = os.path.join(REPO, 'data_pipelines', 'default_corpus',
                        'gutenberg_sample.txt.gz')


def write_held_out(path, paragraphs=60):
  """A small held-out file: the first paragraphs of the embedded corpus."""
  import gzip  # pylint: disable=g-import-not-at-top
  with gzip.open(HELD_OUT, 'rt') as f:
    lines = [line for _, line in zip(range(paragraphs * 4), f)]
  path.write_text(''.join(lines))
  return str(path)


def evaluate(workdir, data, *extra):
  return subprocess.run(
      [sys.executable, '-m', 'lm_jax.evaluate', f'--workdir={workdir}',
       f'--data={data}', '--batch_size=16', *extra], cwd=REPO, env=cli_env(),
      capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize('name, figures', [
    ('bert_base', ['mlm_loss', 'mlm_accuracy', 'pseudo_perplexity',
                   'nsp_loss', 'nsp_accuracy']),
    ('electra_base', ['mlm_loss', 'pseudo_perplexity', 'disc_accuracy',
                      'disc_auc']),
])
def test_cli_reports_held_out_figures(tiny_runs, tmp_path, name, figures):
  workdir = tiny_runs(name)
  data = write_held_out(tmp_path / 'held_out.txt')
  first = evaluate(workdir, data)
  assert first.returncode == 0, first.stderr
  with open(os.path.join(workdir, 'eval_results.json')) as f:
    results = json.load(f)
  assert set(figures) <= set(results) and results['examples'] > 10
  assert results['pseudo_perplexity'] == pytest.approx(
      2.718281828 ** results['mlm_loss'], rel=1e-6)
  assert 0 < results['mlm_accuracy'] < 1
  if 'disc_auc' in results:
    assert 0.5 < results['disc_auc'] <= 1  # a trained discriminator ranks
  assert 'pseudo_perplexity' in first.stdout
  # Fixed masks: a second run, with another batch size, gives the same MLM
  # figures (ELECTRA's discriminator sees generator samples drawn per batch).
  second = evaluate(workdir, data, '--batch_size=8')
  assert second.returncode == 0, second.stderr
  with open(os.path.join(workdir, 'eval_results.json')) as f:
    again = json.load(f)
  for key in [f for f in figures if not f.startswith('disc')]:
    assert again[key] == pytest.approx(results[key], rel=1e-5), key


def test_cli_bad_input_is_one_error_line(tmp_path):
  result = evaluate(tmp_path, str(tmp_path / 'none.txt'))
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == (
      f'error: {tmp_path} is not an lm_jax workdir: it has no checkpoints/ '
      'directory')


def test_eval_files_during_training(micro_config, tmp_path):
  """data.eval_files: eval rows every train.eval_every steps, to
  metrics.jsonl (TensorBoard too)."""
  micro_config.data.eval_files = write_held_out(tmp_path / 'held_out.txt', 20)
  micro_config.train.eval_every = 6
  trainer.run(micro_config, str(tmp_path / 'run'), print_fn=lambda line: None)
  with open(tmp_path / 'run' / 'metrics.jsonl') as f:
    rows = [json.loads(line) for line in f]
  evals = [r for r in rows if 'eval_mlm_loss' in r]
  assert [r['step'] for r in evals] == [6, 12]
  assert {'eval_disc_auc', 'eval_pseudo_perplexity'} <= set(evals[-1])
  assert os.listdir(tmp_path / 'run' / 'vocab')  # the workdir keeps its vocabulary
