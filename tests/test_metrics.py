"""lm_jax/metrics.py: the progress line, metrics.jsonl and TensorBoard files."""
import json
import os

from lm_jax.metrics import MetricLogger


def test_progress_line_jsonl_and_events(tmp_path):
  lines = []
  logger = MetricLogger(str(tmp_path), num_steps=1000, tokens_per_step=4096,
                        start_step=0, print_fn=lines.append)
  logger.start_clock(1)
  logger.write(101, {'loss': 12.5, 'mlm_accuracy': 0.25, 'disc_accuracy': 0.9,
                     'disc_loss': 0.3, 'mlm_loss': 2.0, 'grad_norm': 1.0,
                     'learning_rate': 1e-4})
  logger.write_eval(101, {'mlm_loss': 2.5, 'pseudo_perplexity': 12.18})
  logger.close()
  assert lines[0].startswith(
      'step 101/1000 | loss 12.500 | disc_loss 0.300 | disc_acc 0.900 | '
      'mlm_loss 2.000 | mlm_acc 0.250 | lr 1.00e-04 | tok/s ')
  assert lines[1] == ('eval at step 101 | mlm_loss 2.5000 | '
                      'pseudo_perplexity 12.1800')
  assert 'ETA ' in lines[0] and 'ETA ?' not in lines[0]
  with open(tmp_path / 'metrics.jsonl') as f:
    row, eval_row = [json.loads(line) for line in f]
  assert row['step'] == 101 and row['loss'] == 12.5 and row['tokens_per_second'] > 0
  assert eval_row == {'step': 101, 'eval_mlm_loss': 2.5,
                      'eval_pseudo_perplexity': 12.18}
  assert os.listdir(tmp_path / 'tensorboard')


def test_resume_drops_rows_after_the_restored_step(tmp_path):
  with open(tmp_path / 'metrics.jsonl', 'w') as f:
    for step in (10, 20, 30):
      f.write(json.dumps({'step': step, 'loss': 1.0}) + '\n')
  MetricLogger(str(tmp_path), num_steps=100, tokens_per_step=1, start_step=20,
               print_fn=lambda line: None).close()
  with open(tmp_path / 'metrics.jsonl') as f:
    assert [json.loads(line)['step'] for line in f] == [10, 20]


def test_only_the_primary_host_writes(tmp_path):
  lines = []
  logger = MetricLogger(str(tmp_path), num_steps=10, tokens_per_step=1,
                        start_step=0, primary=False, print_fn=lines.append)
  logger.write(1, {'loss': 1.0})
  logger.close()
  assert not lines and not os.listdir(tmp_path)
