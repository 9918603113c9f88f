"""lm_jax/evaluate.py and evaluation during training: held-out MLM figures
from a saved checkpoint, the same every run; a causal LM's sliding-window
perplexity and bits per byte, and BLEU of its continuations."""
import json
import math
import os
import subprocess
import sys

import pytest

from data_pipelines.tokenizers import load_tokenizer
from lm_jax import bleu, trainer
from tests.conftest import REPO, TINY_STEPS
from tests.test_train_cli import cli_env

HELD_OUT = os.path.join(REPO, 'data_pipelines', 'default_corpus',
                        'gutenberg_sample.txt.gz')
# The first 20 lines of WikiText-2's wiki.valid.raw (tests/data/README.md).
WIKITEXT = os.path.join(REPO, 'tests', 'data', 'wikitext2',
                        'wiki.valid.head20.raw')


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


def results_of(workdir, name='eval_results.json'):
  with open(os.path.join(workdir, name), encoding='utf-8') as f:
    return json.load(f)


def test_cli_reports_a_causal_lms_perplexity(tiny_runs):
  """A causal workdir takes the sliding-window path: every token of the
  text scored once, bits per byte over the file's bytes."""
  workdir = tiny_runs('gpt2_small')
  result = evaluate(workdir, WIKITEXT, '--stride=24')
  assert result.returncode == 0, result.stderr
  assert 'perplexity' in result.stdout and 'mlm' not in result.stdout
  results = results_of(workdir)
  vocab = os.path.join(workdir, 'vocab', os.listdir(
      os.path.join(workdir, 'vocab'))[0])
  with open(WIKITEXT, encoding='utf-8') as f:
    text = f.read()
  tokenizer = load_tokenizer('bpe', vocab)
  assert results['tokens'] == len(tokenizer.encode(text))
  assert results['bytes'] == len(text.encode('utf-8')) == 3873
  assert (results['step'], results['context'], results['stride']) == (
      TINY_STEPS, 64, 24)
  assert results['perplexity'] == pytest.approx(math.exp(results['loss']),
                                                rel=1e-9)
  assert results['bits_per_byte'] == pytest.approx(
      results['loss'] * results['tokens'] / math.log(2) / results['bytes'],
      rel=1e-9)
  # A few steps on other text: better than a uniform guess, far from good.
  assert 20 < results['perplexity'] < tokenizer.vocab_size


def test_cli_reports_bleu_of_the_continuations(tiny_runs, tmp_path):
  workdir = tiny_runs('gpt2_small')
  examples = [{'prompt': 'It was a dark', 'reference': 'and stormy night.'},
              {'prompt': 'The man', 'references': ['bit the dog.',
                                                   'had bitten him.']},
              {'prompt': 'She said', 'reference': 'nothing at all.'}]
  data = tmp_path / 'pairs.jsonl'
  data.write_text(''.join(json.dumps(e) + '\n' for e in examples))
  result = evaluate(workdir, str(data), '--task=bleu', '--max_new_tokens=6')
  assert result.returncode == 0, result.stderr
  results = results_of(workdir)
  assert results['examples'] == 3 and results['max_new_tokens'] == 6
  assert results['bleu_signature'].startswith('nrefs:var|')
  with open(os.path.join(workdir, 'bleu_predictions.jsonl'),
            encoding='utf-8') as f:
    rows = [json.loads(line) for line in f]
  assert [r['prompt'] for r in rows] == [e['prompt'] for e in examples]
  assert rows[1]['references'] == examples[1]['references']
  assert results['bleu'] == pytest.approx(bleu.corpus_bleu(
      [r['prediction'] for r in rows], [r['references'] for r in rows])[0])
  assert 'bleu' in result.stdout
