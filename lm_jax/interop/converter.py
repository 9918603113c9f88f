"""Hugging Face model folders into lm_jax workdirs, and back.

`from_hf` reads config.json, the weights (safetensors, or pytorch_model.bin
with PyTorch) and the tokenizer files, and writes a workdir as a pretraining
run would leave it at step 0: the full train state (parameters and fresh
optimizer state) through the run's own `training.build` and `Checkpointer`,
the config in its metadata and as `config.py`, and the vocabulary in
`vocab/`. `lm_jax.train --config=WORKDIR/config.py` continues pretraining
it; finetune, evaluate and generate read it as any workdir.

`to_hf` restores a workdir's parameters the way evaluation does
(`trained_lm.open_trained`) and writes model.safetensors, config.json and
the tokenizer files that `from_pretrained` loads.

Both write into a temporary directory beside the destination and rename it
when complete: a failed conversion leaves nothing behind, and a destination
that already holds something is refused before anything is written.
"""
import dataclasses
import importlib.util
import json
import os
import shutil
import tempfile

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import traverse_util

import lm_jax
from data_pipelines import vocabulary
from data_pipelines.tasks import glue
from lm_jax import checkpointing, sharding, trained_lm, training
from lm_jax.errors import InputError
from lm_jax.interop import hf_configs, hf_tokenizers, layouts, tensor_files
from lm_jax.models.model_config import (TransformerConfig, from_model_config,
                                        scaled_generator)
from lm_jax.objectives import get_objective

CONFIG_FILE = 'config.py'  # a converted workdir's run config, for lm_jax.train
CONFIGS = os.path.join(os.path.dirname(os.path.dirname(lm_jax.__file__)),
                       'configs')
# The pretraining recipe a converted model takes its objective, data and
# optimizer settings from, by family and hidden size.
_RECIPES = {
    'bert': {None: 'bert_base.py', 1024: 'bert_large.py'},
    'albert': {None: 'albert_base.py'},
    'distilbert': {None: 'bert_base.py'},
    'electra': {None: 'electra_small.py', 768: 'electra_base.py',
                1024: 'electra_large.py'},
    'gpt2': {None: 'gpt2_small.py', 1024: 'gpt2_medium.py',
             1280: 'gpt2_large.py', 1600: 'gpt2_xl.py'},
}
_OBJECTIVES = {'bert': 'mlm', 'albert': 'mlm', 'distilbert': 'mlm',
               'electra': 'electra', 'gpt2': 'causal_lm'}


def load_config_file(spec: str) -> ml_collections.ConfigDict:
  """A config file `path.py[:variant]`, as `--config` loads it."""
  path, _, variant = spec.partition(':')
  if not os.path.isfile(path):
    raise InputError(f'config file {path} does not exist')
  module_spec = importlib.util.spec_from_file_location('recipe', path)
  module = importlib.util.module_from_spec(module_spec)
  try:
    module_spec.loader.exec_module(module)
    return module.get_config(variant) if variant else module.get_config()
  except Exception as e:  # pylint: disable=broad-except
    raise InputError(f'cannot load {spec}: {e}') from None


@dataclasses.dataclass(frozen=True)
class _Part:
  """One HF model folder's place in the lm_jax parameter tree."""
  architecture: str
  body: TransformerConfig
  jax_body: str
  jax_heads: dict
  jax_embeddings: str = 'embeddings'
  subfolder: str = ''  # where to_hf writes it under the destination
  heads: frozenset | None = None  # the source's heads, when not its class's

  def links(self) -> list[layouts.Link]:
    return layouts.links(self.architecture, self.body, self.jax_body,
                         self.jax_embeddings, self.jax_heads, self.heads)


@dataclasses.dataclass(frozen=True)
class _Source:
  """An HF folder being read: its class, tensors and the heads they hold."""
  folder: str
  config: dict
  architecture: str
  fields: dict  # the model section config.json gives
  tensors: dict  # named by layouts.normalize_names
  heads: frozenset

  @classmethod
  def read(cls, folder: str) -> '_Source':
    config = hf_configs.read(folder)
    architecture = hf_configs.architecture(config, folder)
    fields = hf_configs.body_fields(config, folder)
    tensors = layouts.normalize_names(tensor_files.read_tensors(folder),
                                      architecture)
    body = TransformerConfig(**fields)
    return cls(folder, config, architecture, fields, tensors,
               frozenset(layouts.heads_in(architecture, body, tensors)))


def _mlm_heads(config, prefix: str = '') -> dict:
  heads = {'mlm': prefix + 'mlm_head'}
  if config.objective.sentence_task != 'none':
    heads.update(pooler=prefix + 'sentence_classifier/pooler',
                 sentence=prefix + 'sentence_classifier/classifier')
  return heads


def _electra_parts(config, vocab_size: int) -> list[_Part]:
  disc = from_model_config(config.model, vocab_size)
  gen = scaled_generator(disc, config.objective.generator_hidden_fraction,
                         config.objective.generator_layer_fraction)
  shared = config.objective.share_embeddings
  return [_Part('ElectraForPreTraining', disc, 'discriminator',
                {'discriminator': 'discriminator_head'}),
          _Part('ElectraForMaskedLM', gen, 'generator',
                {'mlm': 'generator_head'},
                'embeddings' if shared else 'generator_embeddings',
                'generator')]


# lm_jax's fine-tuning heads and the HF classes that compute the same.
_FINE_TUNED = {'classification': 'ForSequenceClassification',
               'regression': 'ForSequenceClassification',
               'multiple_choice': 'ForMultipleChoice',
               'tagging': 'ForTokenClassification',
               'span_qa': 'ForQuestionAnswering'}


def _encoder_family(body: TransformerConfig) -> str:
  """The HF family whose layout an lm_jax encoder body has."""
  if body.share_layers != 'none':
    return 'albert'
  if not body.type_vocab_size:
    return 'distilbert'
  if body.embedding_size != body.hidden_size:
    return 'electra'  # E < H, unshared: ELECTRA's projection
  return 'bert'


def parts_of(config, vocab_size: int, what: str) -> list[_Part]:
  """The HF models an lm_jax run's parameters make (`to_hf`)."""
  name = config.objective.name
  if name == 'electra':
    parts = _electra_parts(config, vocab_size)
  elif name in ('mlm', 'distillation'):
    body = from_model_config(config.model, vocab_size)
    prefix = 'student/' if name == 'distillation' else ''
    with_sentence = config.objective.sentence_task != 'none'
    family = _encoder_family(body)
    architecture = {
        ('bert', True): 'BertForPreTraining', ('bert', False): 'BertForMaskedLM',
        ('albert', True): 'AlbertForPreTraining',
        ('albert', False): 'AlbertForMaskedLM',
        ('distilbert', False): 'DistilBertForMaskedLM',
        ('electra', False): 'ElectraForMaskedLM'}.get((family, with_sentence))
    if architecture is None:
      raise InputError(f'{what}: a {family} model with a sentence head has no '
                       'Hugging Face class')
    parts = [_Part(architecture, body, prefix + 'encoder',
                   _mlm_heads(config, prefix), prefix + 'embeddings')]
  elif name in _FINE_TUNED:
    body = from_model_config(config.model, vocab_size)
    family = _encoder_family(body)
    kind = _FINE_TUNED[name]
    pooled = config.objective.use_pooler and name in (
        'classification', 'regression', 'multiple_choice')
    architecture = {'bert': 'Bert', 'albert': 'Albert', 'electra': 'Electra',
                    'distilbert': 'DistilBert'}[family] + kind
    if body.causal or architecture not in layouts.ARCHITECTURES or (
        'pooler' in layouts.ARCHITECTURES[architecture][1]) != pooled:
      raise InputError(
          f'{what}: no Hugging Face class computes its {name} head (on '
          f'{"a causal body" if body.causal else family}, '
          f'{"with" if pooled else "without"} a pooler); transformers\' '
          'heads match lm_jax\'s for BERT and ALBERT (pooled sequence and '
          'choice heads), and tagging and SQuAD heads on every encoder')
    heads = ({'qa': 'classifier'} if kind == 'ForQuestionAnswering'
             else {'classifier': 'classifier', 'pooler': 'pooler'})
    parts = [_Part(architecture, body, 'encoder', heads)]
  elif name == 'causal_lm':
    parts = [_Part('GPT2LMHeadModel', from_model_config(config.model,
                                                        vocab_size),
                   'decoder', {})]
  else:
    raise InputError(f'{what} holds a {name!r} model, which has no Hugging '
                     'Face class')
  for part in parts:
    hf_configs.check_expressible(
        part.body, layouts.ARCHITECTURES[part.architecture][0], what)
  return parts


# lm_jax -> HF.


def to_hf(src: str, dst: str, *, dtype: str = 'float32',
          log=lambda line: None) -> list[str]:
  """Writes the model of workdir `src` as HF folder(s) under `dst`; returns
  notes on what HF has no place for (SpanBERT's SBO head)."""
  _check_destination(dst, src)
  lm = trained_lm.open_trained(src)
  parts = parts_of(lm.config, lm.tokenizer.vocab_size, src)
  params = {path: np.asarray(jax.device_get(leaf)) for path, leaf in
            traverse_util.flatten_dict(lm.params, sep='/').items()}
  used = {leaf for part in parts for link in part.links()
          for leaf in link.leaves}
  unused = sorted({_module_of(path) for path in params if path not in used})
  notes = [f'not written (no Hugging Face class holds it): {name}'
           for name in unused]
  data = lm.config.data
  with _staging(dst) as staging:
    for part in parts:
      folder = os.path.join(staging, part.subfolder)
      os.makedirs(folder, exist_ok=True)
      tensors = layouts.tensors_from_params(part.links(), params)
      tensor_files.write_safetensors(
          os.path.join(folder, tensor_files.SAFETENSORS),
          {k: v.astype(jnp.dtype(dtype)) for k, v in tensors.items()})
      config = hf_configs.hf_config(part.body, part.architecture,
                                    _special_ids(lm.tokenizer, data.tokenizer))
      config.update(_head_settings(lm.config), dtype=dtype)
      with open(os.path.join(folder, hf_configs.CONFIG), 'w',
                encoding='utf-8') as f:
        json.dump(config, f, indent=2)
      hf_tokenizers.write_vocabulary(
          folder, data.tokenizer, data.vocab_path, vocabulary.lowercases(data),
          layouts.ARCHITECTURES[part.architecture][0], part.body.max_positions)
  for part in parts:
    log(f'Wrote {part.architecture} to {os.path.join(dst, part.subfolder)}')
  return notes


def _module_of(path: str) -> str:
  """The top module of a parameter path ('span_boundary_head'; a
  distillation student's 'student/projection')."""
  parts = path.split('/')
  return '/'.join(parts[:2] if parts[0] == 'student' else parts[:1])


def _head_settings(config) -> dict:
  """A fine-tuned head's labels, as HF configs name them (GLUE's label
  strings; LABEL_i where lm_jax keeps no names)."""
  o = config.objective
  if o.name == 'regression':
    return {'num_labels': 1, 'problem_type': 'regression'}
  if o.name not in ('classification', 'tagging'):
    return {}
  glue_task = glue.TASKS.get(config.task)
  names = (list(glue_task.labels) if glue_task and glue_task.labels
           else [f'LABEL_{i}' for i in range(o.num_labels)])
  return {'id2label': dict(enumerate(names)),
          'label2id': {name: i for i, name in enumerate(names)}}


def _special_ids(tokenizer, kind: str) -> dict:
  if kind == 'bpe':
    return {'bos_token_id': tokenizer.eot_id, 'eos_token_id': tokenizer.eot_id}
  return {'pad_token_id': tokenizer.pad_id}


# HF -> lm_jax.


def from_hf(src: str, dst: str, *, generator: str | None = None,
            recipe: str | None = None, init_missing: bool = False,
            ignore_unused: bool = False, log=lambda line: None) -> dict:
  """Writes the HF model in `src` (with `generator`, an ELECTRA generator
  folder, into one ELECTRA pair) as an lm_jax workdir `dst`.

  `recipe` (a config file[:variant]) gives the objective, data and
  optimizer settings; by default the family's config under configs/. The
  model section always comes from config.json. Parameters the recipe's
  model has and the source lacks (a head) are refused unless
  `init_missing` (then they start as a new run's would), and source tensors
  the model has no place for are refused unless `ignore_unused`.

  Returns {'architecture', 'params', 'initialised'}.
  """
  _check_destination(dst, src)
  sources = [_Source.read(src)]
  architecture, fields = sources[0].architecture, sources[0].fields
  family = layouts.ARCHITECTURES[architecture][0]
  if generator:
    sources.append(_Source.read(generator))
    if (family != 'electra' or 'mlm' in sources[0].heads
        or 'mlm' not in sources[1].heads):
      raise InputError('--generator pairs an ELECTRA discriminator (--src) '
                       'with an ELECTRA generator (--generator); got '
                       f'{architecture} and {sources[1].architecture}')
  vocab = hf_tokenizers.read_vocabulary(src, family)

  if family == 'electra' and 'mlm' in sources[0].heads:
    objective_name = 'mlm'  # a generator alone is a masked LM
  else:
    objective_name = _OBJECTIVES[family]
  if recipe is None:
    recipes = _RECIPES[family]
    name = ('bert_base.py' if objective_name == 'mlm' and family == 'electra'
            else recipes.get(fields['hidden_size'], recipes[None]))
    recipe = os.path.join(CONFIGS, name)
    if not os.path.isfile(recipe):
      raise InputError(f'the default recipe {recipe} is not here (configs/ '
                       'comes with the source tree); pass --recipe=FILE.py')
  config = load_config_file(recipe)
  if config.objective.name != objective_name:
    raise InputError(f'{recipe} trains a {config.objective.name!r} model; a '
                     f'{architecture} converts into {objective_name!r}')
  _set_model(config, sources)
  get_objective(objective_name).check(config)

  with _staging(dst) as staging:
    vocab_dir = os.path.join(staging, checkpointing.VOCABULARY)
    os.makedirs(vocab_dir)
    with open(os.path.join(vocab_dir, vocab.filename), 'wb') as f:
      f.write(vocab.content)
    config.data.tokenizer = vocab.kind
    if vocab.kind == 'sentencepiece':
      config.data.spm_lowercase = vocab.lowercase
    else:
      config.data.lowercase = vocab.lowercase
    config.data.vocab_path = os.path.join(vocab_dir, vocab.filename)
    tokenizer, vocab_id, _ = vocabulary.load_or_build_tokenizer(
        config.data, log=log)
    if tokenizer.vocab_size != fields['vocab_size']:
      raise InputError(f'{src}: config.json has vocab_size '
                       f'{fields["vocab_size"]}, its tokenizer '
                       f'{tokenizer.vocab_size} tokens')
    summary = _write_workdir(config, tokenizer, vocab_id, vocab.filename,
                             sources, staging, dst, init_missing,
                             ignore_unused)
  log(f'Wrote {summary["architecture"]} ({summary["params"]:,} parameters) '
      f'to {dst}')
  return summary


def _set_model(config, sources: list[_Source]):
  """The recipe's model section from config.json, and the objective's
  heads as the source has them."""
  fields = sources[0].fields
  with config.unlocked():
    for key, value in fields.items():
      if key != 'vocab_size':
        config.model[key] = value
    # Rows no longer than the model's positions.
    config.data.seq_len = min(config.data.seq_len, fields['max_positions'])
  o = config.objective
  if o.name == 'mlm' and not {'pooler', 'sentence'} & sources[0].heads:
    o.sentence_task = 'none'
  if o.name == 'electra' and len(sources) == 2:
    gen_fields = sources[1].fields
    o.generator_hidden_fraction = (gen_fields['hidden_size']
                                   / fields['hidden_size'])
    o.generator_layer_fraction = (gen_fields['num_layers']
                                  / fields['num_layers'])
    gen = scaled_generator(from_model_config(config.model,
                                             fields['vocab_size']),
                           o.generator_hidden_fraction,
                           o.generator_layer_fraction)
    differs = [f'{k} {gen_fields[k]} (lm_jax: {getattr(gen, k)})'
               for k in ('hidden_size', 'num_layers', 'num_heads',
                         'intermediate_size', 'embedding_size',
                         'max_positions', 'type_vocab_size')
               if gen_fields[k] != getattr(gen, k)]
    if differs:
      raise InputError(
          f'{sources[1].folder}: lm_jax\'s ELECTRA generator has hidden/64 '
          'heads, an FFN of 4 x hidden and the discriminator\'s embeddings '
          f'(§1.9); this one differs: {", ".join(differs)}')
    # ELECTRA shares the embeddings; halves that differ keep their own.
    disc, gen = (source.tensors for source in sources)
    o.share_embeddings = all(
        name in gen and np.array_equal(tensor, gen[name])
        for name, tensor in disc.items()
        if name.startswith('electra.embeddings.')
        and not layouts.is_buffer(name))


def _write_workdir(config, tokenizer, vocab_id: str, vocab_file: str,
                   sources, staging: str, dst: str, init_missing: bool,
                   ignore_unused: bool) -> dict:
  objective = get_objective(config.objective.name)
  build_config = config.copy_and_resolve_references()
  with build_config.unlocked():  # this machine's devices, FSDP
    build_config.mesh.data, build_config.mesh.fsdp = 1, -1
    build_config.mesh.tensor = 1
  mesh = sharding.make_mesh(build_config.mesh)
  rules = sharding.rules(build_config.mesh)
  vocab_size = tokenizer.vocab_size
  with sharding.use(mesh, rules):
    run_parts = training.build(build_config, objective, vocab_size, mesh,
                               rules)
    abstract = traverse_util.flatten_dict(run_parts.abstract_state.params,
                                          sep='/')
    shapes = {path: tuple(leaf.shape) for path, leaf in abstract.items()}
    if config.objective.name == 'electra':
      parts = _electra_parts(config, vocab_size)[:len(sources)]
    else:
      parts = parts_of(config, vocab_size, sources[0].folder)
    converted, filled = {}, set()
    problems = []
    for part, source in zip(parts, sources):
      report = layouts.Report()
      part = dataclasses.replace(part, architecture=source.architecture,
                                 heads=source.heads)
      filled |= layouts.params_from_tensors(
          part.links(), source.tensors, shapes, source.architecture,
          converted, report)
      if ignore_unused:
        report.extra = []
      problems += [f'{source.folder}: {p}' for p in report.problems()]
    fresh = sorted(set(shapes) - filled)
    if fresh and not init_missing:
      groups = sorted({'/'.join(p.split('/')[:2]) for p in fresh})
      problems.append(f'{len(fresh)} lm_jax parameter(s) have no tensor in '
                      f'the source: {", ".join(groups)} (--init_missing '
                      'starts them as a new run would)')
    if problems:
      raise InputError('; '.join(problems))
    state = run_parts.init(jax.random.key(config.train.seed), {})
    flat = traverse_util.flatten_dict(state.params, sep='/')
    shardings = traverse_util.flatten_dict(run_parts.state_shardings.params,
                                           sep='/')
    for path, array in converted.items():
      flat[path] = jax.device_put(array.astype(abstract[path].dtype),
                                  shardings[path])
    state = state.replace(params=traverse_util.unflatten_dict(flat, sep='/'))
    saved_config = config.copy_and_resolve_references()
    saved_config.data.vocab_path = os.path.join(
        os.path.abspath(dst), checkpointing.VOCABULARY, vocab_file)
    meta = {'config': json.loads(saved_config.to_json()),
            'vocab_id': vocab_id, 'vocab_size': vocab_size,
            'vocab_file': vocab_file}
    checkpointer = checkpointing.Checkpointer(
        os.path.join(staging, checkpointing.CHECKPOINTS), use_async=False)
    try:
      checkpointer.save(0, state, meta, force=True)
    finally:
      checkpointer.close()
  _write_config_file(os.path.join(staging, CONFIG_FILE), meta['config'],
                     vocab_file, sources)
  return {'architecture': ' + '.join(source.architecture
                                     for source in sources),
          'params': run_parts.num_params,
          'initialised': sorted({'/'.join(p.split('/')[:2]) for p in fresh})}


def _write_config_file(path: str, config: dict, vocab_file: str, sources):
  origin = ' and '.join(os.path.abspath(source.folder) for source in sources)
  with open(path, 'w', encoding='utf-8') as f:
    f.write(f'''"""The run config of the model lm_jax.convert made from
{origin}.

  python -m lm_jax.train --config=WORKDIR/{CONFIG_FILE} --workdir=WORKDIR \\
      --config.data.train_files=...

continues its pretraining (the model and objective must stay as they are).
"""
import json
import os

import ml_collections

CONFIG = json.loads({json.dumps(json.dumps(config))})


def get_config(variant: str = ''):
  del variant
  config = ml_collections.ConfigDict(CONFIG)
  config.data.vocab_path = os.path.join(
      os.path.dirname(os.path.abspath(__file__)), 'vocab', {vocab_file!r})
  return config
''')


# Writing atomically.


def _check_destination(dst: str, src: str) -> None:
  """Refuses a destination that holds anything: a different model is
  named with what differs."""
  if not dst:
    raise InputError('set --dst')
  if os.path.abspath(dst) == os.path.abspath(src):
    raise InputError('--dst must differ from --src')
  if os.path.exists(dst) and (not os.path.isdir(dst) or os.listdir(dst)):
    what = _describe(dst)
    raise InputError(f'{dst} already holds {what}; choose a new --dst (or '
                     'remove it)')


def _describe(path: str) -> str:
  if os.path.isfile(os.path.join(path, hf_configs.CONFIG)):
    try:
      config = hf_configs.read(path)
      return (f'a Hugging Face {", ".join(config.get("architectures") or [])}'
              f' (hidden {config.get("hidden_size", config.get("n_embd"))})')
    except InputError:
      pass
  if os.path.isdir(os.path.join(path, checkpointing.CHECKPOINTS)):
    try:
      checkpointer, step, meta = checkpointing.open_workdir(path)
      checkpointer.close()
      model = meta['config']['model']
      return (f'an lm_jax {meta["config"]["objective"]["name"]} workdir at '
              f'step {step} (hidden {model.get("hidden_size")}, '
              f'{model.get("num_layers")} layers)')
    except (InputError, KeyError, OSError):
      pass
  return 'other files'


class _staging:
  """A temporary directory beside `dst`, renamed to `dst` on success and
  removed on failure."""

  def __init__(self, dst: str):
    self._dst = os.path.abspath(dst)

  def __enter__(self) -> str:
    parent = os.path.dirname(self._dst)
    os.makedirs(parent, exist_ok=True)
    self._tmp = tempfile.mkdtemp(prefix=f'.{os.path.basename(self._dst)}.',
                                 dir=parent)
    return self._tmp

  def __exit__(self, kind, value, traceback):
    if kind is not None:
      shutil.rmtree(self._tmp, ignore_errors=True)
      return False
    if os.path.isdir(self._dst):
      os.rmdir(self._dst)  # empty: checked before anything was written
    os.rename(self._tmp, self._dst)
    return False
