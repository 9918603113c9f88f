"""A Hugging Face `config.json` read as an lm_jax body, and an lm_jax body
written as one (the details conversion breaks on: algorithms.md §2.1-§2.6,
§5 pitfalls 17-19, 24-25).

The body's fields are `TransformerConfig`'s; what HF can express that
lm_jax cannot (relative positions, cross-attention, ALBERT's inner groups,
sinusoidal positions, another activation) is refused in one line, and so is
an lm_jax body HF cannot express.
"""
import json
import os

from lm_jax.errors import InputError
from lm_jax.interop.layouts import ARCHITECTURES
from lm_jax.models.model_config import TransformerConfig

CONFIG = 'config.json'
# HF's activation names and lm_jax's.
_FROM_HF_ACTIVATION = {'gelu': 'gelu', 'gelu_new': 'gelu_tanh',
                       'gelu_pytorch_tanh': 'gelu_tanh'}
_TO_HF_ACTIVATION = {'gelu': 'gelu', 'gelu_tanh': 'gelu_new'}
_BARE_MODEL = {'bert': 'BertModel', 'albert': 'AlbertModel',
               'electra': 'ElectraModel', 'distilbert': 'DistilBertModel',
               'gpt2': 'GPT2Model'}


def read(folder: str) -> dict:
  """The folder's config.json, or InputError naming what is wrong."""
  path = os.path.join(folder, CONFIG)
  if not os.path.isdir(folder):
    raise InputError(f'{folder} is not a directory')
  if not os.path.isfile(path):
    raise InputError(f'{folder} has no {CONFIG}: not a Hugging Face model '
                     'folder')
  try:
    with open(path, encoding='utf-8') as f:
      config = json.load(f)
  except (OSError, ValueError) as e:
    raise InputError(f'cannot read {path}: {e}') from None
  if not isinstance(config, dict):
    raise InputError(f'{path} is not a JSON object')
  return config


def architecture(config: dict, folder: str) -> str:
  """The HF class the folder's weights are for: one lm_jax converts."""
  named = config.get('architectures') or []
  model_type = config.get('model_type')
  for name in named:
    if name in ARCHITECTURES:
      return name
  if named:
    raise InputError(
        f'{folder}: {", ".join(named)} is not convertible; lm_jax converts '
        f'{", ".join(ARCHITECTURES)}')
  if model_type in _BARE_MODEL:
    return _BARE_MODEL[model_type]
  raise InputError(f'{folder}: model_type {model_type!r} is not convertible; '
                   f'lm_jax converts {", ".join(sorted(_BARE_MODEL))}')


def _get(config: dict, key: str, folder: str):
  if key not in config:
    raise InputError(f'{folder}/{CONFIG} lacks {key!r}')
  return config[key]


def _activation(name, folder: str) -> str:
  if name not in _FROM_HF_ACTIVATION:
    raise InputError(f'{folder}: activation {name!r} is not supported (lm_jax '
                     f'has {", ".join(_FROM_HF_ACTIVATION)})')
  return _FROM_HF_ACTIVATION[name]


def _refuse(folder: str, config: dict, unsupported: dict) -> None:
  """InputError for every key whose value lm_jax cannot reproduce."""
  problems = [f'{key}={config[key]!r}' for key, ok in unsupported.items()
              if key in config and config[key] is not None
              and config[key] != ok]
  if problems:
    raise InputError(f'{folder}: {", ".join(problems)} is not supported')


def body_fields(config: dict, folder: str) -> dict:
  """The `model` section fields (and 'vocab_size') of the HF config."""
  family = ARCHITECTURES[architecture(config, folder)][0]
  get = lambda key: _get(config, key, folder)
  if family == 'gpt2':
    _refuse(folder, config, {'scale_attn_weights': True,
                             'scale_attn_by_inverse_layer_idx': False,
                             'add_cross_attention': False})
    hidden = get('n_embd')
    return dict(
        vocab_size=get('vocab_size'), hidden_size=hidden,
        num_layers=get('n_layer'), num_heads=get('n_head'),
        intermediate_size=config.get('n_inner') or 4 * hidden,
        embedding_size=hidden, max_positions=get('n_positions'),
        type_vocab_size=0, dropout_rate=config.get('resid_pdrop', 0.1),
        attention_dropout_rate=config.get('attn_pdrop', 0.1),
        activation=_activation(config.get('activation_function', 'gelu_new'),
                               folder),
        layer_norm_eps=config.get('layer_norm_epsilon', 1e-5),
        init_std=config.get('initializer_range', 0.02), causal=True,
        norm_position='pre', embedding_norm=False,
        init_distribution='normal', position_init_std=0.01,
        scale_residual_init=True)
  if family == 'distilbert':
    _refuse(folder, config, {'sinusoidal_pos_embds': False})
    return dict(
        vocab_size=get('vocab_size'), hidden_size=get('dim'),
        num_layers=get('n_layers'), num_heads=get('n_heads'),
        intermediate_size=get('hidden_dim'), embedding_size=get('dim'),
        max_positions=get('max_position_embeddings'), type_vocab_size=0,
        dropout_rate=config.get('dropout', 0.1),
        attention_dropout_rate=config.get('attention_dropout', 0.1),
        activation=_activation(config.get('activation', 'gelu'), folder),
        layer_norm_eps=1e-12, init_std=config.get('initializer_range', 0.02))
  _refuse(folder, config, {'position_embedding_type': 'absolute',
                           'is_decoder': False, 'add_cross_attention': False,
                           'inner_group_num': 1})
  hidden = get('hidden_size')
  fields = dict(
      vocab_size=get('vocab_size'), hidden_size=hidden,
      num_layers=get('num_hidden_layers'),
      num_heads=get('num_attention_heads'),
      intermediate_size=get('intermediate_size'),
      embedding_size=config.get('embedding_size') or hidden,
      max_positions=get('max_position_embeddings'),
      type_vocab_size=get('type_vocab_size'),
      dropout_rate=config.get('hidden_dropout_prob', 0.1),
      attention_dropout_rate=config.get('attention_probs_dropout_prob', 0.1),
      activation=_activation(config.get('hidden_act', 'gelu'), folder),
      layer_norm_eps=config.get('layer_norm_eps', 1e-12),
      init_std=config.get('initializer_range', 0.02))
  if family == 'albert':
    if fields['embedding_size'] == hidden:
      raise InputError(f'{folder}: an ALBERT with embedding_size equal to '
                       'hidden_size is not supported (lm_jax projects '
                       'embeddings only when E < H)')
    fields.update(share_layers='all',
                  num_layer_groups=config.get('num_hidden_groups', 1),
                  projection_init='truncated_normal')
  if family == 'electra':
    fields['projection_init'] = 'glorot_uniform'
  return fields


def hf_config(body: TransformerConfig, architecture_name: str,
              special_ids: dict) -> dict:
  """config.json for `body` as HF class `architecture_name`; `special_ids`
  gives pad_token_id (and GPT-2's bos/eos)."""
  family = ARCHITECTURES[architecture_name][0]
  activation = _TO_HF_ACTIVATION[body.activation]
  common = {'architectures': [architecture_name], 'model_type': family,
            'vocab_size': body.vocab_size,
            'initializer_range': body.init_std, **special_ids}
  if family == 'gpt2':
    return {**common, 'n_embd': body.hidden_size, 'n_layer': body.num_layers,
            'n_head': body.num_heads, 'n_inner': body.intermediate_size,
            'n_positions': body.max_positions, 'resid_pdrop': body.dropout_rate,
            'embd_pdrop': body.dropout_rate,
            'attn_pdrop': body.attention_dropout_rate,
            'activation_function': activation,
            'layer_norm_epsilon': body.layer_norm_eps,
            'scale_attn_weights': True, 'tie_word_embeddings': True}
  if family == 'distilbert':
    return {**common, 'dim': body.hidden_size, 'n_layers': body.num_layers,
            'n_heads': body.num_heads, 'hidden_dim': body.intermediate_size,
            'max_position_embeddings': body.max_positions,
            'dropout': body.dropout_rate,
            'attention_dropout': body.attention_dropout_rate,
            'activation': activation, 'sinusoidal_pos_embds': False,
            'tie_word_embeddings': True}
  config = {**common, 'hidden_size': body.hidden_size,
            'num_hidden_layers': body.num_layers,
            'num_attention_heads': body.num_heads,
            'intermediate_size': body.intermediate_size,
            'max_position_embeddings': body.max_positions,
            'type_vocab_size': body.type_vocab_size,
            'hidden_dropout_prob': body.dropout_rate,
            'attention_probs_dropout_prob': body.attention_dropout_rate,
            'hidden_act': activation, 'layer_norm_eps': body.layer_norm_eps,
            'position_embedding_type': 'absolute', 'tie_word_embeddings': True}
  if family in ('albert', 'electra'):
    config['embedding_size'] = body.embedding_size
  if family == 'albert':
    config.update(num_hidden_groups=body.num_layer_groups, inner_group_num=1)
  return config


def check_expressible(body: TransformerConfig, family: str, what: str) -> None:
  """InputError naming each property of `body` that HF's `family` cannot
  hold."""
  wanted = {'gpt2': dict(causal=True, norm_position='pre',
                         embedding_norm=False, type_vocab_size=0,
                         share_layers='none'),
            'distilbert': dict(causal=False, norm_position='post',
                               embedding_norm=True, type_vocab_size=0,
                               share_layers='none',
                               embedding_size=body.hidden_size,
                               layer_norm_eps=1e-12),
            'albert': dict(causal=False, norm_position='post',
                           embedding_norm=True, share_layers='all'),
            'bert': dict(causal=False, norm_position='post',
                         embedding_norm=True, share_layers='none',
                         embedding_size=body.hidden_size),
            'electra': dict(causal=False, norm_position='post',
                            embedding_norm=True, share_layers='none')}[family]
  problems = [f'{key}={getattr(body, key)!r} (HF needs {value!r})'
              for key, value in wanted.items() if getattr(body, key) != value]
  if body.head_dim and body.head_dim * body.num_heads != body.hidden_size:
    problems.append(f'head_dim={body.head_dim} with {body.num_heads} heads in '
                    f'{body.hidden_size}')
  if body.activation not in _TO_HF_ACTIVATION:
    problems.append(f'activation={body.activation!r}')
  problems.extend(f'{key}={getattr(body, key)} (parameter-efficient '
                  'parameters have no place in its layout)'
                  for key in ('adapter_size', 'lora_rank', 'prefix_length')
                  if getattr(body, key))
  if problems:
    raise InputError(f'{what} cannot be written as a Hugging Face {family} '
                     f'model: {"; ".join(problems)}')
