"""lm_jax/finetuning/runner.py and lm_jax/finetune.py: every task family
fine-tuned end to end from a `:tiny` pretraining run, on real data slices."""
import importlib.util
import json
import os
import pathlib
import statistics
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import FINETUNED_EVAL_EXAMPLES, FINETUNED_TASKS, REPO
from lm_jax import checkpointing, sharding, training
from lm_jax.errors import InputError
from lm_jax.finetuning import backbone, objectives, runner, tasks

DATA = os.path.join(REPO, 'tests', 'data', 'tasks')


def finetune_config(family: str, **overrides):
  spec = importlib.util.spec_from_file_location(
      family, os.path.join(REPO, 'configs', 'finetune', f'{family}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config('tiny')
  c.train.num_steps = 6
  c.train.async_checkpoints = False
  c.data.max_eval_examples = 24
  for dotted, value in overrides.items():
    node = c
    *parents, key = dotted.split('.')
    for p in parents:
      node = node[p]
    node[key] = value
  return c


def run(config, workdir) -> dict:
  return runner.run(config, str(workdir), print_fn=lambda line: None)


@pytest.fixture(scope='module')
def electra(tiny_runs):
  return tiny_runs('electra_small')


@pytest.mark.slow
def test_glue_sst2_writes_metrics_predictions_submission_and_best(
    finetuned_runs):
  workdir = pathlib.Path(finetuned_runs('sst2'))
  saved = json.loads((workdir / 'eval_results.json').read_text())
  assert 0 <= saved['accuracy'] <= 1 and saved['step'] == 6
  assert saved['best_accuracy'] >= saved['accuracy']
  rows = [json.loads(l) for l in (workdir / 'predictions.jsonl').open()]
  assert len(rows) == FINETUNED_EVAL_EXAMPLES
  assert {r['prediction'] for r in rows} <= {'0', '1'}
  assert np.mean([r['label'] == r['prediction'] for r in rows]) == (
      pytest.approx(saved['accuracy']))
  submission = (workdir / 'glue_submission' / 'SST-2.tsv').read_text()
  assert submission.splitlines()[0] == 'index\tprediction'
  assert len(submission.splitlines()) == 11
  assert (workdir / 'best').is_dir()
  assert (workdir / 'vocab').is_dir()


@pytest.mark.slow
@pytest.mark.parametrize('family,task,data,keys', [
    # SST-2 in its own test, MRPC in the seeds test; CoLA's MCC in
    # test_finetuning_metrics.py.
    ('glue', 'stsb', 'glue/STS-B', {'pearson', 'spearman'}),
    ('conll2003', 'conll2003', 'conll2003',
     {'precision', 'recall', 'f1', 'PER_f1', 'LOC_support'}),
    ('squad', 'squad', 'squad', {'exact_match', 'f1'}),
    ('squad', 'squad_v2', 'squad',
     {'exact_match', 'f1', 'best_f1', 'best_f1_threshold',
      'no_answer_exact_match'}),
    ('multiple_choice', 'piqa', 'piqa', {'accuracy'}),
])
def test_every_family_reports_its_metrics(electra, finetuned_runs, tmp_path,
                                          family, task, data, keys):
  if task in FINETUNED_TASKS:  # the same run the pipeline tests read
    workdir = finetuned_runs(task)
    with open(os.path.join(workdir, checkpointing.RESULTS)) as f:
      results = json.load(f)
  else:
    workdir = tmp_path
    results = run(finetune_config(family, task=task, init_checkpoint=electra,
                                  data_dir=os.path.join(DATA, data)), workdir)
  assert keys <= set(results), sorted(results)
  assert all(np.isfinite(v) for v in results.values())
  assert any(p.startswith('predictions') for p in os.listdir(workdir))


@pytest.mark.slow
@pytest.mark.parametrize('name, pooler', [
    ('bert_base', True),  # NSP trained a pooler
    ('albert_base', True),  # SOP; shared layers, E < H
    ('distilbert', False),  # no token types; the student is the body
])
def test_every_encoder_family_fine_tunes(tiny_runs, tmp_path, name, pooler):
  config = finetune_config('glue', task='rte', init_checkpoint=tiny_runs(name),
                           data_dir=os.path.join(DATA, 'glue', 'RTE'),
                           **{'train.num_steps': 3})
  results = run(config, tmp_path)
  assert 0 <= results['accuracy'] <= 1
  metas = []
  for workdir in (str(tmp_path), tiny_runs(name)):
    checkpointer, _, meta = checkpointing.open_workdir(workdir)
    checkpointer.close()
    metas.append(meta)
  assert metas[0]['config']['objective']['use_pooler'] is pooler
  for key in ('hidden_size', 'num_layers', 'embedding_size', 'share_layers'):
    assert metas[0]['config']['model'][key] == metas[1]['config']['model'][key]


@pytest.mark.parametrize('name, parts', [
    ('electra_small', {'embeddings', 'encoder'}),  # the discriminator
    ('bert_base', {'embeddings', 'encoder', 'pooler'}),  # NSP's pooler too
])
def test_pretrained_body_is_restored_exactly(tiny_runs, name, parts):
  workdir = tiny_runs(name)
  config = finetune_config('glue', task='sst2', init_checkpoint=workdir,
                           data_dir=os.path.join(DATA, 'glue', 'SST-2'))
  pretrained, tokenizer = backbone.open_pretrained(workdir)
  task = tasks.get('sst2')
  data = task.load(config, tokenizer, lambda line: None)
  resolved = runner.resolve(config, task, data, pretrained)
  mesh = sharding.make_mesh(resolved.mesh)
  rules = sharding.rules(resolved.mesh)
  with sharding.use(mesh, rules):
    parts_ = training.build(resolved, objectives.OBJECTIVES['classification'],
                            pretrained.vocab_size, mesh, rules)
    state = parts_.init(jax.random.key(0), {})
    params, frozen = backbone.restore_body(parts_, pretrained)
    assert not frozen  # everything trains
    params = dict(state.params, **params)
  assert set(pretrained.backbone_paths) == parts
  # Read each part back from the pretraining checkpoint under its own path.
  target = {}
  for part, path in pretrained.backbone_paths.items():
    node = target
    for key in path[:-1]:
      node = node.setdefault(key, {})
    node[path[-1]] = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
        params[part])
  checkpointer, step, _ = checkpointing.open_workdir(workdir)
  saved = checkpointer.restore_params(step, target)
  checkpointer.close()
  for part, path in pretrained.backbone_paths.items():
    node = saved
    for key in path:
      node = node[key]
    jax.tree.map(np.testing.assert_array_equal, node, params[part])
    assert not all(np.allclose(a, b) for a, b in zip(
        jax.tree.leaves(node), jax.tree.leaves(state.params[part])))
  assert 'classifier' in params  # the head is new


@pytest.mark.slow
def test_resume_gives_the_uninterrupted_result(electra, tmp_path):
  # Adapters above a frozen first layer: the state holds part of the stacked
  # layers, the rest is read again from the body on resume.
  kwargs = dict(task='sst2', init_checkpoint=electra,
                data_dir=os.path.join(DATA, 'glue', 'SST-2'), peft='adapter',
                freeze='layers:1')
  straight = run(finetune_config('glue', **kwargs), tmp_path / 'straight')
  assert run(finetune_config('glue', **kwargs, **{'train.stop_at_step': 3}),
             tmp_path / 'resumed') == {}
  assert not (tmp_path / 'resumed' / 'eval_results.json').exists()
  resumed = run(finetune_config('glue', **kwargs), tmp_path / 'resumed')
  assert resumed['accuracy'] == straight['accuracy']
  assert resumed['loss'] == pytest.approx(straight['loss'], rel=1e-5)


@pytest.mark.slow
def test_seeds_report_each_figure_and_the_median(electra, tmp_path):
  config = finetune_config('glue', task='mrpc', init_checkpoint=electra,
                           data_dir=os.path.join(DATA, 'glue', 'MRPC'),
                           num_seeds=2, **{'train.num_steps': 2})
  results = run(config, tmp_path)
  per_seed = [results[f'seed_{i}.f1'] for i in range(2)]
  assert results['f1'] == statistics.median(per_seed)
  assert {'accuracy', 'f1', 'seed_0.accuracy'} <= set(results)
  assert sorted(os.listdir(tmp_path)) == ['eval_results.json', 'seed_0',
                                          'seed_1']


def test_split_slices():
  name, select = tasks.parse_split('dev[:80%]')
  assert name == 'dev' and select(list(range(10))) == list(range(8))
  assert tasks.parse_split('dev[80%:]')[1](list(range(10))) == [8, 9]
  assert tasks.parse_split('train[-2:]')[1](list(range(5))) == [3, 4]
  with pytest.raises(InputError, match='cannot read split'):
    tasks.parse_split('dev[:x]')


def test_bad_inputs_are_one_line_errors(electra, tmp_path):
  sst2 = os.path.join(DATA, 'glue', 'SST-2')
  (tmp_path / 'empty').mkdir()
  cases = [
      (dict(task='sst2', data_dir=sst2, init_checkpoint=str(tmp_path /
                                                             'empty')),
       'not an lm_jax workdir'),
      (dict(task='sst3', data_dir=sst2, init_checkpoint=electra),
       'unknown task'),
      (dict(task='sst2', data_dir=str(tmp_path / 'nowhere'),
            init_checkpoint=electra), 'is not a directory'),
      (dict(task='sst2', data_dir=sst2, init_checkpoint=''),
       'init_checkpoint'),
  ]
  for overrides, message in cases:
    with pytest.raises(InputError, match=message) as error:
      run(finetune_config('glue', **overrides), tmp_path / 'out')
    assert '\n' not in str(error.value)
  bad = tmp_path / 'bad'
  bad.mkdir()
  (bad / 'train.tsv').write_text('sentence\tlabel\ngood\t1\nbad\t7\n')
  (bad / 'dev.tsv').write_text('sentence\tlabel\nfine\t0\n')
  with pytest.raises(InputError, match=r'train.tsv:3'):
    run(finetune_config('glue', task='sst2', data_dir=str(bad),
                        init_checkpoint=electra), tmp_path / 'out')


def test_command_line_error_is_one_line(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'lm_jax.finetune',
       '--config=configs/finetune/glue.py:tiny', '--config.task=sst2',
       f'--config.init_checkpoint={tmp_path}', f'--workdir={tmp_path}/out'],
      cwd=REPO, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [
      f'error: {tmp_path} is not an lm_jax workdir: it has no checkpoints/ '
      'directory']


@pytest.mark.slow
def test_a_tfds_dataset_in_place_of_files(electra, tmp_path):
  tfds = pytest.importorskip('tensorflow_datasets')
  config = finetune_config('glue', task='sst2', init_checkpoint=electra,
                           tfds_name='glue/sst2', **{'train.num_steps': 2})
  with tfds.testing.mock_data(num_examples=40):
    results = run(config, tmp_path)
  assert 0 <= results['accuracy'] <= 1
  assert len((tmp_path / 'predictions.jsonl').read_text().splitlines()) == 24
  assert (tmp_path / 'glue_submission' / 'SST-2.tsv').exists()


@pytest.mark.parametrize('name, lr, decay', [('electra_small', 3e-4, 0.8),
                                             ('bert_small', 1e-4, 1.0)])
def test_recipe_follows_the_pretrained_family(tiny_runs, name, lr, decay):
  config = finetune_config('glue', task='rte', init_checkpoint=tiny_runs(name),
                           data_dir=os.path.join(DATA, 'glue', 'RTE'))
  config.optim.learning_rate = 0.0
  config.optim.layer_decay = 0.0
  config.train.num_epochs = 0.0
  config.train.num_steps = 0
  pretrained, tokenizer = backbone.open_pretrained(config.init_checkpoint)
  task = tasks.get('rte')
  data = task.load(config, tokenizer, lambda line: None)
  resolved = runner.resolve(config, task, data, pretrained)
  assert resolved.optim.learning_rate == lr
  assert resolved.optim.layer_decay == decay
  # RTE: 10 epochs (ELECTRA) of 96 rows in batches of 16; 10% warmup.
  assert resolved.train.num_epochs == 10
  assert resolved.train.num_steps == 60
  assert resolved.optim.warmup_steps == 6
  assert resolved.train.eval_every == 6  # once per epoch
  assert resolved.model.hidden_size == pretrained.config.model.hidden_size
  assert resolved.model.dropout_rate == config.model.dropout_rate


def write_mnli(folder):
  """Rows in MNLI's own layout: 12 columns in train, 16 in dev, 10 in test."""
  folder.mkdir()
  parse = '( x )'
  pairs = [('A man plays a guitar .', 'A person makes music .', 'entailment'),
           ('A dog sleeps .', 'The dog runs fast .', 'contradiction'),
           ('Two kids eat .', 'The kids are brothers .', 'neutral')] * 6
  head = ['index', 'promptID', 'pairID', 'genre', 'sentence1_binary_parse',
          'sentence2_binary_parse', 'sentence1_parse', 'sentence2_parse',
          'sentence1', 'sentence2']

  def row(i, a, b, extra):
    return '\t'.join([str(i), '1', f'{i}e', 'fiction', parse, parse, parse,
                      parse, a, b] + extra)

  (folder / 'train.tsv').write_text('\n'.join(
      ['\t'.join(head + ['label1', 'gold_label'])]
      + [row(i, a, b, [g, g]) for i, (a, b, g) in enumerate(pairs)]) + '\n')
  for name in ('dev_matched.tsv', 'dev_mismatched.tsv'):
    (folder / name).write_text('\n'.join(
        ['\t'.join(head + [f'label{k}' for k in range(1, 6)] + ['gold_label'])]
        + [row(i, a, b, [g] * 6) for i, (a, b, g) in enumerate(pairs[:9])])
        + '\n')
  for name in ('test_matched.tsv', 'test_mismatched.tsv'):
    (folder / name).write_text('\n'.join(
        ['\t'.join(head)] + [row(i, a, b, []) for i, (a, b, _) in
                             enumerate(pairs[:4])]) + '\n')


@pytest.mark.slow
def test_mnli_reports_matched_and_mismatched(electra, tmp_path):
  write_mnli(tmp_path / 'MNLI')
  config = finetune_config('glue', task='mnli', init_checkpoint=electra,
                           data_dir=str(tmp_path / 'MNLI'),
                           **{'train.num_steps': 2})
  results = run(config, tmp_path / 'out')
  assert {'accuracy', 'mismatched_accuracy', 'mismatched_loss'} <= set(results)
  assert (tmp_path / 'out' / 'predictions_mismatched.jsonl').exists()
  for name in ('MNLI-m.tsv', 'MNLI-mm.tsv'):
    rows = (tmp_path / 'out' / 'glue_submission' / name).read_text().split()
    assert rows[:2] == ['index', 'prediction'] and len(rows) == 10
    assert set(rows[3::2]) <= {'entailment', 'neutral', 'contradiction'}


def test_empty_splits_are_refused(electra, tmp_path):
  kwargs = dict(task='sst2', init_checkpoint=electra,
                data_dir=os.path.join(DATA, 'glue', 'SST-2'))
  with pytest.raises(InputError, match='no training examples in sst2'):
    run(finetune_config('glue', **kwargs, **{'data.train_split': 'train[:0]'}),
        tmp_path / 'a')
  with pytest.raises(InputError, match='no examples to evaluate'):
    run(finetune_config('glue', **kwargs, **{'data.eval_split': 'dev[100%:]'}),
        tmp_path / 'b')
