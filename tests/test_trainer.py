"""lm_jax/trainer.py: learning, exact resume, and refusing to damage a workdir."""
import json
import os

import numpy as np
import pytest

from lm_jax import trainer
from lm_jax.errors import InputError

quiet = lambda line: None


def rows(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def checkpoint_steps(workdir):
  return sorted(int(d) for d in os.listdir(os.path.join(workdir, 'checkpoints'))
                if d.isdigit())


def test_tiny_config_learns_on_the_default_corpus(tiny_runs):
  """configs/electra_small.py:tiny, as shipped: the loss goes down and several
  checkpoints are written."""
  workdir = tiny_runs('electra_small')
  logged = rows(workdir)
  assert [r['step'] for r in logged] == list(range(25, 301, 25))
  mean = lambda key, part: sum(r[key] for r in part) / len(part)
  early, late = logged[:3], logged[-3:]
  assert mean('loss', late) < mean('loss', early) - 0.5
  assert mean('mlm_accuracy', late) > mean('mlm_accuracy', early) + 0.03
  assert checkpoint_steps(workdir) == [100, 200, 300]
  for r in logged:
    assert {'step', 'loss', 'mlm_loss', 'disc_loss', 'disc_accuracy',
            'learning_rate', 'grad_norm'} <= set(r)


def test_resume_continues_exactly(micro_config, tmp_path):
  """N steps straight == N/2 steps, a restart, then N/2 more: same metrics."""
  micro_config.train.log_every = 1
  trainer.run(micro_config, str(tmp_path / 'straight'), print_fn=quiet)

  micro_config.train.stop_at_step = 6
  trainer.run(micro_config, str(tmp_path / 'split'), print_fn=quiet)
  assert checkpoint_steps(tmp_path / 'split') == [4, 6]
  micro_config.train.stop_at_step = 0
  messages = []
  trainer.run(micro_config, str(tmp_path / 'split'), print_fn=messages.append)
  assert 'Resumed from the checkpoint at step 6.' in messages

  straight, split = rows(tmp_path / 'straight'), rows(tmp_path / 'split')
  assert [r['step'] for r in split] == list(range(1, 13))
  for a, b in zip(straight, split):
    for key in ('loss', 'mlm_loss', 'disc_loss', 'grad_norm', 'learning_rate'):
      np.testing.assert_allclose(a[key], b[key], rtol=1e-5, err_msg=f'{key} @ {a["step"]}')


def test_resume_forgets_metrics_logged_after_the_checkpoint(micro_config, tmp_path):
  """A run killed after its last checkpoint logged steps it will redo."""
  micro_config.train.stop_at_step = 6
  trainer.run(micro_config, str(tmp_path), print_fn=quiet)
  with open(tmp_path / 'metrics.jsonl', 'a') as f:  # as if steps 7-8 ran, then a crash
    f.write(json.dumps({'step': 8, 'loss': 1.0}) + '\n')
  micro_config.train.stop_at_step = 0
  trainer.run(micro_config, str(tmp_path), print_fn=quiet)
  assert [r['step'] for r in rows(tmp_path)] == [2, 4, 6, 8, 10, 12]
  assert rows(tmp_path)[3]['loss'] != 1.0


def snapshot(directory):
  files = {}
  for root, _, names in os.walk(directory):
    for name in names:
      path = os.path.join(root, name)
      with open(path, 'rb') as f:
        files[os.path.relpath(path, directory)] = f.read()
  return files


def test_other_model_in_same_workdir_is_refused_untouched(micro_config, tmp_path):
  micro_config.train.num_steps = 4
  trainer.run(micro_config, str(tmp_path), print_fn=quiet)
  before = snapshot(tmp_path)
  micro_config.model.hidden_size = 64
  with pytest.raises(InputError, match='different model.*hidden_size: 32 then, 64 now'):
    trainer.run(micro_config, str(tmp_path), print_fn=quiet)
  assert snapshot(tmp_path) == before


@pytest.mark.parametrize('key, value, message', [
    ('data.train_files', '/nonexistent/*.txt', "no file matches .*nonexistent"),
    ('data.vocab_path', '/nonexistent/spm.model', 'nonexistent/spm.model'),
    ('data.batch_size', 12, 'batch_size 12 is not divisible by the 8'),
    ('data.seq_len', 1000, 'seq_len 1000 must be in'),
    ('objective.name', 'xlnet', "unknown objective.name 'xlnet'"),
])
def test_bad_input_is_one_line_and_writes_nothing(micro_config, tmp_path, key,
                                                  value, message):
  section, name = key.split('.')
  micro_config[section][name] = value
  with pytest.raises(InputError, match=message) as e:
    trainer.run(micro_config, str(tmp_path / 'run'), print_fn=quiet)
  assert '\n' not in str(e.value)
  assert not (tmp_path / 'run').exists()


def test_empty_corpus(micro_config, tmp_path):
  empty = tmp_path / 'empty.txt'
  empty.write_text('\n\n')
  micro_config.data.train_files = str(empty)
  micro_config.data.vocab_path = os.path.join(
      os.path.dirname(__file__), 'does_not_matter.model')
  micro_config.data.vocab_path = ''
  with pytest.raises(InputError, match='empty.txt'):
    trainer.run(micro_config, str(tmp_path / 'run'), print_fn=quiet)


def test_trains_with_a_wordpiece_vocab_txt(micro_config, tmp_path):
  """data.tokenizer=wordpiece with a BERT-style vocab.txt, end to end."""
  letters = [chr(c) for c in range(ord('a'), ord('z') + 1)]
  punctuation = list('.,;:!?\'"-()[]_&*')
  vocab = (['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] + letters
           + ['##' + c for c in letters] + punctuation
           + ['the', 'and', 'of', 'to', 'in', 'he', 'was', 'that', 'it'])
  vocab += [f'[unused{i}]' for i in range(128 - len(vocab))]
  (tmp_path / 'vocab.txt').write_text('\n'.join(vocab) + '\n')
  micro_config.data.tokenizer = 'wordpiece'
  micro_config.data.vocab_path = str(tmp_path / 'vocab.txt')
  micro_config.train.num_steps = 4
  messages = []
  trainer.run(micro_config, str(tmp_path / 'run'), print_fn=messages.append)
  assert any('vocabulary 128,' in m for m in messages)
  assert [r['step'] for r in rows(tmp_path / 'run')] == [2, 4]
  assert np.isfinite(rows(tmp_path / 'run')[-1]['loss'])


def bert_micro():
  # pylint: disable=g-import-not-at-top
  from tests.conftest import load_named_config
  from tests.test_distillation import shrink
  c = shrink(load_named_config('bert_base', 'tiny'))
  c.train.num_steps, c.train.checkpoint_every = 12, 6
  return c


def test_bert_128_then_512_is_a_resume_with_a_longer_seq_len(tmp_path):
  """BERT's recipe: the same workdir resumed with a new data.seq_len (here 32
  then 64); the prediction budget follows the length."""
  config = bert_micro()
  config.train.stop_at_step = 6
  trainer.run(config, str(tmp_path), print_fn=quiet)
  config.train.stop_at_step = 0
  config.data.seq_len = 64
  messages = []
  last = trainer.run(config, str(tmp_path), print_fn=messages.append)
  assert 'Resumed from the checkpoint at step 6.' in messages
  assert checkpoint_steps(tmp_path)[-1] == 12 and np.isfinite(last['loss'])


def test_wrong_combination_is_refused_before_anything_is_written(tmp_path):
  config = bert_micro()
  config.objective.examples = 'blocks'  # single segments cannot carry NSP
  with pytest.raises(InputError, match='needs sentence pairs'):
    trainer.run(config, str(tmp_path / 'run'), print_fn=quiet)
  assert not (tmp_path / 'run').exists()
