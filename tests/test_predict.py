"""lm_jax/predict.py: a JSON-lines file in, one output line per input line
out, in order, the task the workdir's own; a bad line is one error line and
no output file."""
import json
import os
import subprocess
import sys

from conftest import REPO
from data_pipelines.tasks import glue
from test_train_cli import cli_env


def predict_cli(*args):
  return subprocess.run([sys.executable, '-m', 'lm_jax.predict', *args],
                        cwd=REPO, env=cli_env(), capture_output=True,
                        text=True, timeout=300)


def test_cli_writes_the_runs_labels_in_input_order(finetuned_runs, tmp_path):
  workdir = finetuned_runs('sst2')
  examples, _ = glue.read_split(
      glue.get_task('sst2'),
      os.path.join(REPO, 'tests', 'data', 'tasks', 'glue', 'SST-2', 'dev.tsv'),
      labelled=True)
  examples = examples[:6][::-1]  # dev examples the run predicted
  inputs = tmp_path / 'in.jsonl'
  inputs.write_text(''.join(
      json.dumps({'text' if i % 2 else 'sentence': e.text_a}) + '\n'
      for i, e in enumerate(examples)))
  output = tmp_path / 'out' / 'labels.jsonl'
  output.parent.mkdir()
  result = predict_cli(f'--workdir={workdir}', f'--input={inputs}',
                       f'--output={output}', '--batch_size=4')
  assert result.returncode == 0, result.stderr
  assert result.stdout == ''
  with open(os.path.join(workdir, 'predictions.jsonl')) as f:
    run = {row['guid']: row['prediction'] for row in map(json.loads, f)}
  lines = output.read_text().splitlines()
  assert [json.loads(line)['label'] for line in lines] == [
      run[e.guid] for e in examples]
  assert os.listdir(output.parent) == ['labels.jsonl']  # no temporary left


def test_import_lm_jax_leaves_the_pipelines_unloaded():
  result = subprocess.run(
      [sys.executable, '-c', 'import sys, lm_jax; '
       'assert "jax" not in sys.modules, "jax"; '
       'assert "lm_jax.inference" not in sys.modules, "inference"'],
      cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr


def test_cli_bad_line_is_one_error_line_and_no_output(tmp_path):
  inputs = tmp_path / 'in.jsonl'
  inputs.write_text('{"text": "fine"}\n["not", "an", "object"]\n')
  output = tmp_path / 'out.jsonl'
  result = predict_cli('--workdir=unused', f'--input={inputs}',
                       f'--output={output}')
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [
      f'error: {inputs} line 2: expected a JSON object, got list']
  assert not output.exists()
