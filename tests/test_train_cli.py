"""lm_jax/train.py end to end, as a user runs it: progress lines, workdir
files, a stop with SIGTERM that resumes, and one-line errors."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO

SMALL = ['--config.model.hidden_size=32', '--config.model.num_heads=2',
         '--config.model.intermediate_size=64', '--config.model.embedding_size=16',
         '--config.data.vocab_size=1000', '--config.data.seq_len=32',
         '--config.data.batch_size=8']


def cli_env():
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='3')
  env.pop('XLA_FLAGS', None)  # one CPU device, as on a user's laptop
  return env


def train(workdir, *extra, timeout=240):
  return subprocess.run(
      [sys.executable, '-m', 'lm_jax.train',
       '--config=configs/electra_small.py:tiny', f'--workdir={workdir}',
       *SMALL, *extra], cwd=REPO, env=cli_env(), capture_output=True,
      text=True, timeout=timeout)


def test_stopped_run_resumes_to_the_end(tmp_path):
  """SIGTERM saves a checkpoint and exits 0; the same command resumes."""
  workdir = tmp_path / 'run'
  proc = subprocess.Popen(
      [sys.executable, '-m', 'lm_jax.train',
       '--config=configs/electra_small.py:tiny', f'--workdir={workdir}', *SMALL,
       '--config.train.num_steps=100000', '--config.train.log_every=10',
       '--config.train.checkpoint_every=20'],
      cwd=REPO, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True)
  deadline = time.time() + 180
  while not (workdir / 'checkpoints' / '20').exists():
    assert proc.poll() is None, proc.communicate()
    assert time.time() < deadline, 'no checkpoint in time'
    time.sleep(0.2)
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=60)
  assert proc.returncode == 0, err
  assert 'Stopping at step' in out and 'saved a checkpoint' in out
  assert 'step 10/100000 | loss' in out and 'tok/s' in out and 'ETA' in out
  saved = max(int(d) for d in os.listdir(workdir / 'checkpoints') if d.isdigit())
  assert saved >= 20

  stop = (saved // 10 + 2) * 10
  done = train(workdir, '--config.train.num_steps=100000',
               f'--config.train.stop_at_step={stop}',
               '--config.train.log_every=10', '--config.train.checkpoint_every=20')
  assert done.returncode == 0, done.stderr
  assert f'Resumed from the checkpoint at step {saved}.' in done.stdout
  with open(workdir / 'metrics.jsonl') as f:
    steps = [json.loads(line)['step'] for line in f]
  assert steps == list(range(10, stop + 1, 10))
  assert (workdir / 'tensorboard').is_dir() and os.listdir(workdir / 'tensorboard')


@pytest.mark.parametrize('args, message', [
    (['--config.train.nosuch=3'], 'unknown config key in --config.train.nosuch'),
    (['--config.train.num_steps=abc'], 'num_steps'),
    (['--config.data.train_files=/nonexistent/*.txt'], "no file matches"),
    (['--config.data.vocab_path=/nonexistent/vocab.txt',
      '--config.data.tokenizer=wordpiece'], '/nonexistent/vocab.txt'),
    (['--config.mesh.data=3'], 'mesh'),
])
def test_bad_input_is_one_error_line(tmp_path, args, message):
  result = train(tmp_path / 'run', *args, timeout=120)
  assert result.returncode == 2
  errors = [l for l in result.stderr.splitlines() if l.startswith('error:')]
  assert len(errors) == 1 and message in errors[0], result.stderr
  assert 'Traceback' not in result.stderr
  assert not (tmp_path / 'run').exists()


def test_unknown_variant_and_missing_config_file(tmp_path):
  for config in ('configs/electra_small.py:huge', 'configs/nosuch.py'):
    result = subprocess.run(
        [sys.executable, '-m', 'lm_jax.train', f'--config={config}',
         f'--workdir={tmp_path}'], cwd=REPO, env=cli_env(),
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith('error:') and 'Traceback' not in result.stderr


def test_hard_killed_run_resumes_from_its_last_checkpoint(tmp_path):
  """SIGKILL mid-run (no chance to save): the next run restores the newest
  complete checkpoint; a half-written one is never picked up."""
  workdir = tmp_path / 'run'
  proc = subprocess.Popen(
      [sys.executable, '-m', 'lm_jax.train',
       '--config=configs/electra_small.py:tiny', f'--workdir={workdir}', *SMALL,
       '--config.train.num_steps=100000', '--config.train.checkpoint_every=10'],
      cwd=REPO, env=cli_env(), stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL)
  deadline = time.time() + 180
  while not (workdir / 'checkpoints' / '30').exists():
    assert proc.poll() is None and time.time() < deadline
    time.sleep(0.05)
  proc.kill()
  proc.wait()
  complete = [int(d) for d in os.listdir(workdir / 'checkpoints') if d.isdigit()]
  resumed = train(workdir, '--config.train.num_steps=100000',
                  f'--config.train.stop_at_step={max(complete) + 5}')
  assert resumed.returncode == 0, resumed.stderr
  assert f'Resumed from the checkpoint at step {max(complete)}.' in resumed.stdout


# As if TensorFlow were not installed: a None entry makes `import` fail and
# importlib.util.find_spec answer None.
NO_TENSORFLOW = '''
import sys
sys.modules['tensorflow'] = sys.modules['tensorflow_datasets'] = None
from absl import app
from lm_jax import train
app.run(train.main, flags_parser=train.parse_flags)
'''


def test_synthetic_source_trains_without_tensorflow(tmp_path):
  """data.source=synthetic: the path for accelerator hosts without TF."""
  result = subprocess.run(
      [sys.executable, '-c', NO_TENSORFLOW,
       '--config=configs/electra_small.py:tiny', f'--workdir={tmp_path}',
       *SMALL, '--config.data.source=synthetic', '--config.train.num_steps=20',
       '--config.train.log_every=10', '--config.train.checkpoint_every=10'],
      cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=240)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'vocabulary 1,000, synthetic batches' in result.stdout
  assert 'step 20/20 | loss' in result.stdout
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['10', '20']
