"""lm_jax/partition.py, lm_jax/finetuning/peft.py and the PEFT layers of
lm_jax/models/encoder.py and lm_jax/finetuning/model.py: what each method
trains, how the tree splits and merges, adapters and LoRA starting from the
pretrained function, the prefix extending attention and folding exactly."""
import dataclasses
import hashlib
import os
import pathlib
import re

import flax.linen as nn
from flax import traverse_util
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from conftest import assert_one_line
from lm_jax import checkpointing, config_base, partition, sharding, trained_lm
from lm_jax.errors import InputError
from lm_jax.finetuning import backbone, peft, runner, tasks
from lm_jax.finetuning.model import FinetuneModel
from lm_jax.models.encoder import ADAPTER_INIT_STD
from lm_jax.models.model_config import TransformerConfig
from test_finetune import DATA, finetune_config

CFG = TransformerConfig(vocab_size=50, hidden_size=16, num_layers=3,
                        num_heads=2, intermediate_size=32, embedding_size=8,
                        max_positions=16, dropout_rate=0.0,
                        attention_dropout_rate=0.0)


def inputs(batch=3, length=7, pad=2):
  ids = jax.random.randint(jax.random.key(1), (batch, length), 1, 50)
  mask = jnp.ones((batch, length), jnp.int32).at[0, length - pad:].set(0)
  return ids, jnp.zeros_like(ids), mask


def init(cfg, head='sequence', **kw):
  model = FinetuneModel(cfg, head=head, **kw)
  return model, nn.unbox(model.init(jax.random.key(0), *inputs())['params'])


def config_for(cfg: TransformerConfig, peft_kind='none', freeze=''):
  c = config_base.finetuning_config()
  c.peft, c.freeze = peft_kind, freeze
  with c.unlocked():
    c.model = ml_collections.ConfigDict(
        {k: v for k, v in dataclasses.asdict(cfg).items() if k != 'vocab_size'})
  return c


def trained_paths(params, config) -> set[str]:
  trainable, _ = partition.split(params, peft.frozen_rule(config))
  return {'/'.join(p) for p in traverse_util.flatten_dict(trainable)}


def test_split_and_merge_give_back_the_tree_with_leading_layers_frozen():
  tree = {'encoder': {'layers': {'w': jnp.arange(12.).reshape(3, 4)},
                      'norm': jnp.ones(4)},
          'head': jnp.zeros(2)}
  rule = lambda path: {'layers': 2, 'norm': True}.get(path[1], False) if (
      len(path) > 2 or path[-1] == 'norm') else False
  trainable, frozen = partition.split(tree, rule)
  assert trainable['encoder']['layers']['w'].shape == (1, 4)
  assert frozen['encoder']['layers']['w'].shape == (2, 4)
  assert 'norm' not in trainable['encoder'] and 'head' in trainable
  jax.tree.map(np.testing.assert_array_equal,
               partition.merge(trainable, frozen), tree)
  boxed = nn.LogicallyPartitioned(jnp.ones((3, 4)), ('layers', 'embed'))
  part, rest = partition.split({'encoder': {'layers': {'w': boxed}}}, rule)
  assert part['encoder']['layers']['w'].names == ('layers', 'embed')
  assert rest['encoder']['layers']['w'].value.shape == (2, 4)


@pytest.mark.parametrize('kind, expected', [
    ('adapter', {'classifier', 'attention_adapter', 'ffn_adapter',
                 'layer_norm'}),
    ('lora', {'classifier', 'lora_a', 'lora_b'}),
    ('prefix', {'classifier', 'prefix'}),
])
def test_each_method_trains_only_its_parameters_and_the_head(kind, expected):
  cfg = dataclasses.replace(
      CFG, adapter_size=4 if kind == 'adapter' else 0,
      lora_rank=2 if kind == 'lora' else 0,
      prefix_length=3 if kind == 'prefix' else 0,
      prefix_hidden=8 if kind == 'prefix' else 0)
  _, params = init(cfg, use_pooler=True)
  paths = trained_paths(params, config_for(cfg, kind))
  for path in paths:
    assert any(name in path for name in expected), path
  for name in expected:
    assert any(name in path for path in paths), name
  assert not any(p.startswith('pooler') for p in paths)  # §1.12
  if kind == 'adapter':  # every LayerNorm: the embeddings' and each layer's
    assert {'embeddings/layer_norm/scale',
            'encoder/layers/attention_layer_norm/scale',
            'encoder/layers/output_layer_norm/bias'} <= paths


def test_freeze_parts_and_layers():
  _, params = init(CFG, use_pooler=True)
  c = config_for(CFG, 'none', 'embeddings,layers:2')
  trainable, frozen = partition.split(params, peft.frozen_rule(c))
  assert 'embeddings' not in trainable and 'embeddings_project' not in (
      trainable['encoder'])
  query = ('encoder', 'layers', 'attention', 'query', 'kernel')
  flat_t, flat_f = (traverse_util.flatten_dict(t) for t in (trainable, frozen))
  assert flat_t[query].shape[0] == 1 and flat_f[query].shape[0] == 2
  assert 'pooler' in trainable and 'classifier' in trainable
  probe = trained_paths(params, config_for(CFG, 'none', 'body'))
  assert probe == {'classifier/kernel', 'classifier/bias'}
  # Adapters train even in frozen layers; only the body's weights stay.
  cfg = dataclasses.replace(CFG, adapter_size=4)
  _, params = init(cfg)
  paths = trained_paths(params, config_for(cfg, 'adapter', 'body'))
  assert paths and all('adapter' in p or 'classifier' in p for p in paths)


def test_bad_peft_settings_are_one_line_errors():
  c = config_for(CFG, 'adapters', 'layers:9,head')
  c.lora.targets = 'query,ffn'
  with pytest.raises(InputError) as e:
    peft.check(c, c.model)
  assert_one_line(e, "unknown peft 'adapters'", 'layers:9', "'head'",
                  'lora.targets')
  shared = dataclasses.replace(CFG, share_layers='all', num_layer_groups=1)
  c = config_for(shared, 'none', 'layers:1')
  with pytest.raises(InputError) as e:
    peft.check(c, c.model)
  assert_one_line(e, 'layers 0-2 share one parameter group')


def test_adapters_start_near_identity_and_lora_exactly_at_the_body():
  ids, segments, mask = inputs()
  plain, params = init(CFG)
  out = plain.apply({'params': params}, ids, segments, mask)
  for cfg in (dataclasses.replace(CFG, adapter_size=8),
              dataclasses.replace(CFG, lora_rank=4,
                                  lora_targets='query,key,value,output')):
    model, fresh = init(cfg)
    added = {k: v for k, v in traverse_util.flatten_dict(fresh).items()
             if peft.is_added(k)}
    assert added
    merged = traverse_util.unflatten_dict(
        {**traverse_util.flatten_dict(params), **added})
    got = model.apply({'params': merged}, ids, segments, mask)
    if cfg.lora_rank:
      np.testing.assert_allclose(got, out, atol=1e-6)  # B starts at zero
    else:
      assert 0 < float(jnp.max(jnp.abs(got - out))) < 50 * ADAPTER_INIT_STD
      down = added[('encoder', 'layers', 'attention_adapter', 'down',
                    'kernel')]
      assert float(jnp.std(down)) < 2 * ADAPTER_INIT_STD


def test_prefix_folds_exactly_and_extends_attention_over_padding():
  cfg = dataclasses.replace(CFG, prefix_length=3, prefix_hidden=8)
  model, params = init(cfg)
  ids, segments, mask = inputs()
  out = model.apply({'params': params}, ids, segments, mask)
  c = config_for(cfg, 'prefix')
  folded_params, saved = peft.folded(params, c)
  assert saved['model']['prefix_hidden'] == 0
  assert set(folded_params['prefix']) == {'key_values'}
  assert folded_params['prefix']['key_values'].shape == (3, 2, 3, 2, 8)
  folded_model = FinetuneModel(dataclasses.replace(cfg, prefix_hidden=0),
                               head='sequence')
  np.testing.assert_allclose(
      folded_model.apply({'params': folded_params}, ids, segments, mask), out,
      rtol=1e-5, atol=1e-6)
  # The prefix is attended: outputs differ from the body without it; and a
  # row's padding still takes no part.
  plain = FinetuneModel(CFG, head='sequence')
  body = {k: v for k, v in params.items() if k != 'prefix'}
  assert not np.allclose(plain.apply({'params': body}, ids, segments, mask),
                         out, atol=1e-4)
  cut = model.apply({'params': params}, ids[:1, :5], segments[:1, :5],
                    mask[:1, :5])
  np.testing.assert_allclose(cut, out[:1], rtol=1e-5, atol=1e-6)


def files_hash(workdir) -> str:
  digest = hashlib.sha256()
  for path in sorted(pathlib.Path(workdir).rglob('*')):
    if path.is_file():
      digest.update(str(path.relative_to(workdir)).encode())
      digest.update(path.read_bytes())
  return digest.hexdigest()


def leaves(tree) -> dict:
  return {'/'.join(k): np.asarray(v)
          for k, v in traverse_util.flatten_dict(tree).items()}


@pytest.mark.slow
def test_each_method_trains_only_its_own_and_loads_back_on_the_body(
    tiny_runs, tmp_path):
  body_dir = tiny_runs('electra_small')
  before = files_hash(body_dir)
  checkpointer, step, _ = checkpointing.open_workdir(body_dir)
  checkpointer.close()
  opened = {}
  for kind, task, freeze in (('adapter', 'sst2', 'layers:1'),
                             ('lora', 'mrpc', ''), ('prefix', 'sst2', '')):
    workdir = str(tmp_path / f'{task}_{kind}')
    lines = []
    config = finetune_config(
        'glue', task=task, init_checkpoint=body_dir, peft=kind, freeze=freeze,
        data_dir=os.path.join(DATA, 'glue', {'sst2': 'SST-2',
                                             'mrpc': 'MRPC'}[task]))
    results = runner.run(config, workdir, print_fn=lines.append)
    trainable, total = (int(n.replace(',', '')) for n in re.search(
        r'Trainable: ([\d,]+) of ([\d,]+) parameters', '\n'.join(lines)
    ).groups())
    assert 0 < trainable < total / 2
    # best/ keeps only what the run trained: the method's and the head's.
    best = checkpointing.open_workdir(workdir, checkpointing.BEST)
    best[0].close()
    lm = trained_lm.open_trained(workdir)
    opened[kind] = lm
    saved = {'/'.join(k): v for k, v in traverse_util.flatten_dict(
        lm.run_parts.abstract_state.params).items()}
    saved_size = sum(v.size for v in saved.values())
    assert saved_size == trainable if kind != 'prefix' else (
        saved_size < trainable)
    for path in saved:
      assert ('classifier' in path or kind in path or 'lora_' in path
              or 'layer_norm' in path), path
    if kind == 'prefix':  # the MLP folded into the keys and values
      assert set(lm.params['prefix']) == {'key_values'}
      assert best[2]['config']['model']['prefix_hidden'] == 0
    # The body is the pretrained one, bit for bit (a frozen layer included);
    # the dev figures of the loaded model are the run's.
    body = leaves(backbone.restore_body(lm.run_parts, backbone.open_pretrained(
        body_dir)[0])[1])
    got = leaves(lm.params)
    for path, value in body.items():
      np.testing.assert_array_equal(got[path][:len(value)], value)
    if freeze:
      norm = 'encoder/layers/attention_layer_norm/scale'
      assert norm in saved and saved[norm].shape[0] == got[norm].shape[0] - 1
    data = tasks.get(task).load(lm.config, lm.tokenizer, lambda line: None)
    with sharding.use(lm.mesh, lm.rules):
      metrics, _ = runner._evaluate(tasks.get(task), data, lm.config,
                                    lm.run_parts, lm.params)
    main = tasks.get(task).main_metric
    assert metrics[main] == pytest.approx(results[f'best_{main}'])
  # Several tasks' runs on one body hold one copy of its frozen weights.
  query = ('encoder', 'layers', 'attention', 'query', 'kernel')
  kernels = [lm.params for lm in opened.values()]
  assert all(traverse_util.flatten_dict(k)[query] is
             traverse_util.flatten_dict(kernels[0])[query] for k in kernels)
  assert files_hash(body_dir) == before
  # An adapter opened on another body is refused in one line.
  with pytest.raises(InputError) as e:
    trained_lm.open_trained(str(tmp_path / 'sst2_adapter'),
                            backbone=tiny_runs('bert_base'))
  assert_one_line(e, 'was trained on the body of', 'fingerprint')
