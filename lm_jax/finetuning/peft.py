"""Parameter-efficient fine-tuning: which parameters of a fine-tuning model
train (algorithms.md §1.12, §1.13, §5 pitfalls 31-32).

`config.peft` picks what trains besides the head (the classifier, and a
causal body's new transfer-token embeddings, which always train):
- 'none': every parameter;
- 'adapter': Houlsby adapters after both sublayers of every layer (bottleneck
  `adapter.size`, 64) and every LayerNorm; the pooler and the rest stay fixed;
- 'lora': LoRA's A and B (rank `lora.rank`, scale `lora.alpha / rank`) on the
  attention projections in `lora.targets`;
- 'prefix': `prefix.length` keys and values per layer, trained through an MLP
  of width `prefix.hidden` and folded into the values when saved.
`config.freeze` keeps pretrained parameters fixed on top of that, comma-
separated: 'embeddings' (with the E->H projection), 'layers:K' (the first K
encoder layers; ALBERT's shared groups whole), 'body' (all of them).

Everything frozen is split from the train state (`lm_jax.partition`): it gets
no gradient, no optimizer state and no place in the run's checkpoints, which
then hold only what the run trained: a few MB per task, loaded back onto the
pretraining workdir's body (`backbone.py`).
"""
import json
import re

import jax

from lm_jax import partition
from lm_jax.errors import InputError
from lm_jax.finetuning.model import Prefix
from lm_jax.models.encoder import layer_groups
from lm_jax.models.model_config import LORA_TARGETS, from_model_config

KINDS = ('none', 'adapter', 'lora', 'prefix')
HEAD = ('classifier', 'transfer_embeddings')  # new parameters of every run
FREEZE_PARTS = ('embeddings', 'layers:K', 'body')
# The learning rate by method when the config leaves it 0: adapters 3e-4
# (adapter-bert's README, §1.12); LoRA 5e-4 (Hu et al.'s RoBERTa-base GLUE
# runs); prefix tuning 5e-5 (Li & Liang's README, §1.13).
LEARNING_RATES = {'adapter': 3e-4, 'lora': 5e-4, 'prefix': 5e-5}


def model_fields(config) -> dict:
  """The `model` section's PEFT fields that `config.peft` implies."""
  kind = config.peft
  return dict(
      adapter_size=config.adapter.size if kind == 'adapter' else 0,
      lora_rank=config.lora.rank if kind == 'lora' else 0,
      lora_alpha=float(config.lora.alpha),
      lora_targets=config.lora.targets,
      prefix_length=config.prefix.length if kind == 'prefix' else 0,
      prefix_hidden=config.prefix.hidden if kind == 'prefix' else 0)


def _freeze_items(config) -> list[str]:
  return [p.strip() for p in config.freeze.split(',') if p.strip()]


def check(config, pretrained_model) -> None:
  """InputError (one line) for an unknown method, a malformed freeze list or
  sizes that cannot work with the pretrained model."""
  problems = []
  if config.peft not in KINDS:
    problems.append(f'unknown peft {config.peft!r}; use {", ".join(KINDS)}')
  num_layers = pretrained_model.num_layers
  for item in _freeze_items(config):
    match = re.fullmatch(r'layers:(\d+)', item)
    if match:
      k = int(match.group(1))
      if not 1 <= k <= num_layers:
        problems.append(f'freeze {item}: K must be in [1, {num_layers}]')
      elif pretrained_model.get('share_layers', 'none') != 'none':
        problems.extend(_shared_group_problems(pretrained_model, k, item))
    elif item not in FREEZE_PARTS:
      problems.append(f'unknown freeze part {item!r}; use '
                      f'{", ".join(FREEZE_PARTS)} (comma-separated)')
  for key, value in (('adapter.size', config.adapter.size),
                     ('lora.rank', config.lora.rank),
                     ('prefix.length', config.prefix.length)):
    if value <= 0:
      problems.append(f'{key} must be positive, got {value}')
  if config.prefix.hidden < 0:
    problems.append('prefix.hidden must be >= 0 (0: train the values '
                    'directly)')
  targets = [t.strip() for t in config.lora.targets.split(',') if t.strip()]
  if not targets or set(targets) - set(LORA_TARGETS):
    problems.append(f'lora.targets {config.lora.targets!r}: use some of '
                    f'{", ".join(LORA_TARGETS)} (comma-separated)')
  if problems:
    raise InputError('; '.join(problems))


def _shared_group_problems(model, k: int, item: str) -> list[str]:
  body = from_model_config(model, 1)
  for groups in layer_groups(body):
    for g in set(groups):
      layers = [i for i, used in enumerate(groups) if used == g]
      if min(layers) < k <= max(layers):
        return [f'freeze {item}: layers {min(layers)}-{max(layers)} share '
                'one parameter group, which cannot be half frozen']
  return []


def is_added(path: partition.Path) -> bool:
  """A parameter PEFT adds to the pretrained body."""
  return (path[0] == 'prefix' or path[-1] in ('lora_a', 'lora_b')
          or any(name.endswith('_adapter') for name in path))


def is_pretrained(path: partition.Path) -> bool:
  return path[0] not in HEAD and not is_added(path)


def frozen_rule(config) -> partition.Rule:
  """What of each parameter the run keeps fixed (see `lm_jax.partition`)."""
  kind = config.get('peft', 'none')  # absent in runs made before PEFT
  freeze = _freeze_items(config) if 'freeze' in config else []
  if kind == 'none' and not freeze:
    return partition.nothing_frozen
  body = from_model_config(config.model, 1)
  group_layers = {}
  if body.share_layers != 'none':
    for prefix, groups in zip(('attention_', 'ffn_'), layer_groups(body)):
      for i, g in enumerate(groups):
        group_layers.setdefault(f'{prefix}{g}', []).append(i)

  def trains_under_kind(path) -> bool:
    if kind == 'none' or path[0] in HEAD or is_added(path):
      return True
    return kind == 'adapter' and any('layer_norm' in n for n in path)

  def frozen(path) -> bool | int:
    if not trains_under_kind(path):
      return True
    if not is_pretrained(path):
      return False
    first = 0
    for item in freeze:
      if item == 'body':
        return True
      if item == 'embeddings' and (path[0] == 'embeddings'
                                   or 'embeddings_project' in path):
        return True
      if item.startswith('layers:'):
        k = int(item.split(':')[1])
        if 'layers' in path:
          if k >= body.num_layers:
            return True
          first = max(first, k)
        for name in path:
          if name in group_layers and max(group_layers[name]) < k:
            return True
    return first

  return frozen


def folded(params, config) -> tuple[dict, dict]:
  """(params, config as JSON) with prefix tuning's MLP folded into the
  per-layer keys and values it computes (§1.13): what a saved run keeps."""
  saved = json.loads(config.to_json())
  body = from_model_config(config.model, 1)
  if not (body.prefix_length and body.prefix_hidden):
    return params, saved
  key_values = jax.jit(Prefix(body).apply)({'params': params['prefix']})
  saved['model']['prefix_hidden'] = 0
  return dict(params, prefix={'key_values': key_values}), saved
