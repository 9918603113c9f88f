"""Where each lm_jax parameter lives in a Hugging Face PyTorch checkpoint
(algorithms.md §2.6), and the exact array moves between the two.

A `Link` ties one HF tensor to one lm_jax leaf (or, for GPT-2's fused
`c_attn`, three): a slice of a scanned stack (`layer`), and a `kind` saying
how the array is laid out on each side:
- 'same': the same array (embeddings, LayerNorms, unsplit biases);
- 'flat': an lm_jax [heads, head_dim] bias that HF keeps flat;
- 'linear', 'linear2': a torch Linear weight [out, in]; lm_jax kernels are
  [in, out] with the attention heads split out ([H, N, D] for Q/K/V,
  'linear2' for the output projection's [N, D, H], whose input is two dims);
- 'conv1d', 'conv1d2': GPT-2's Conv1D, stored [in, out];
- 'fused_kernel', 'fused_bias': GPT-2's c_attn, Q, K and V side by side.
Every move is a transpose or reshape, so conversion is exact both ways.

`links(architecture, ...)` lists the links of one HF model class over an
lm_jax body; `params_from_tensors` and `tensors_from_params` apply them and
report what is missing, extra or misshapen.
"""
import dataclasses
import math
import re

import numpy as np

from lm_jax.models.encoder import layer_groups
from lm_jax.models.model_config import TransformerConfig


@dataclasses.dataclass(frozen=True)
class Link:
  hf: str  # the HF tensor's name
  leaves: tuple[str, ...]  # lm_jax leaf paths, '/'-joined
  kind: str = 'same'
  layer: int | None = None  # the slice of a scanned stack (axis 0)


def _dense(leaf, hf, kind='linear', bias='same'):
  return [(leaf + '/kernel', hf + '.weight', kind),
          (leaf + '/bias', hf + '.bias', bias)]


def _norm(leaf, hf):
  return [(leaf + '/scale', hf + '.weight', 'same'),
          (leaf + '/bias', hf + '.bias', 'same')]


def _qkv(hf_names):
  return [entry for leaf, hf in zip(('query', 'key', 'value'), hf_names)
          for entry in _dense('attention/' + leaf, hf, 'linear', 'flat')]


# One layer's tensors: (lm_jax leaf under the layer, HF name under it, kind).
_BERT_ATTENTION = (
    _qkv(['attention.self.query', 'attention.self.key', 'attention.self.value'])
    + _dense('attention/output', 'attention.output.dense', 'linear2')
    + _norm('attention_layer_norm', 'attention.output.LayerNorm'))
_BERT_FFN = (_dense('intermediate', 'intermediate.dense')
             + _dense('output', 'output.dense')
             + _norm('output_layer_norm', 'output.LayerNorm'))
_ALBERT_ATTENTION = (
    _qkv(['attention.query', 'attention.key', 'attention.value'])
    + _dense('attention/output', 'attention.dense', 'linear2')
    + _norm('attention_layer_norm', 'attention.LayerNorm'))
_ALBERT_FFN = (_dense('intermediate', 'ffn') + _dense('output', 'ffn_output')
               + _norm('output_layer_norm', 'full_layer_layer_norm'))
_DISTILBERT_LAYER = (
    _qkv(['attention.q_lin', 'attention.k_lin', 'attention.v_lin'])
    + _dense('attention/output', 'attention.out_lin', 'linear2')
    + _norm('attention_layer_norm', 'sa_layer_norm')
    + _dense('intermediate', 'ffn.lin1') + _dense('output', 'ffn.lin2')
    + _norm('output_layer_norm', 'output_layer_norm'))
_QKV_LEAVES = tuple(f'attention/{n}/kernel' for n in ('query', 'key', 'value'))
_GPT2_LAYER = (
    [(_QKV_LEAVES, 'attn.c_attn.weight', 'fused_kernel'),
     (tuple(l.replace('kernel', 'bias') for l in _QKV_LEAVES),
      'attn.c_attn.bias', 'fused_bias')]
    + _dense('attention/output', 'attn.c_proj', 'conv1d2')
    + _norm('attention_layer_norm', 'ln_1')
    + _dense('intermediate', 'mlp.c_fc', 'conv1d')
    + _dense('output', 'mlp.c_proj', 'conv1d')
    + _norm('output_layer_norm', 'ln_2'))

# The HF classes each family converts to and from: (family, heads), heads
# naming the parts beyond the body that the class holds.
ARCHITECTURES = {
    'BertModel': ('bert', {'pooler'}),
    'BertForMaskedLM': ('bert', {'mlm'}),
    'BertForPreTraining': ('bert', {'pooler', 'mlm', 'sentence'}),
    'AlbertModel': ('albert', {'pooler'}),
    'AlbertForMaskedLM': ('albert', {'mlm'}),
    'AlbertForPreTraining': ('albert', {'pooler', 'mlm', 'sentence'}),
    'ElectraModel': ('electra', set()),
    'ElectraForPreTraining': ('electra', {'discriminator'}),
    'ElectraForMaskedLM': ('electra', {'mlm'}),
    'DistilBertModel': ('distilbert', set()),
    'DistilBertForMaskedLM': ('distilbert', {'mlm'}),
    'GPT2Model': ('gpt2', set()),
    'GPT2LMHeadModel': ('gpt2', set()),
    # Fine-tuning heads whose computation lm_jax's heads share (§2.7):
    # 'classifier' on the pooled [CLS] (sequence, choice) or on every token,
    # 'qa' the span head's start and end logits.
    'BertForSequenceClassification': ('bert', {'pooler', 'classifier'}),
    'BertForMultipleChoice': ('bert', {'pooler', 'classifier'}),
    'BertForTokenClassification': ('bert', {'classifier'}),
    'BertForQuestionAnswering': ('bert', {'qa'}),
    'AlbertForSequenceClassification': ('albert', {'pooler', 'classifier'}),
    'AlbertForMultipleChoice': ('albert', {'pooler', 'classifier'}),
    'AlbertForTokenClassification': ('albert', {'classifier'}),
    'AlbertForQuestionAnswering': ('albert', {'qa'}),
    'ElectraForTokenClassification': ('electra', {'classifier'}),
    'ElectraForQuestionAnswering': ('electra', {'qa'}),
    'DistilBertForTokenClassification': ('distilbert', {'classifier'}),
    'DistilBertForQuestionAnswering': ('distilbert', {'qa'}),
}
# The prefix of the body's tensors in every class but the bare model's.
BASE_PREFIX = {'bert': 'bert', 'albert': 'albert', 'electra': 'electra',
               'distilbert': 'distilbert', 'gpt2': 'transformer'}

# Tensors a checkpoint may hold that are copies of others (tied output
# layers): (HF name, the name it must equal).
_TIED = {
    'bert': [('cls.predictions.decoder.weight',
              'bert.embeddings.word_embeddings.weight'),
             ('cls.predictions.decoder.bias', 'cls.predictions.bias')],
    'albert': [('predictions.decoder.weight',
                'albert.embeddings.word_embeddings.weight'),
               ('predictions.decoder.bias', 'predictions.bias')],
    'electra': [('generator_lm_head.weight',
                 'electra.embeddings.word_embeddings.weight')],
    'distilbert': [('vocab_projector.weight',
                    'distilbert.embeddings.word_embeddings.weight')],
    'gpt2': [('lm_head.weight', 'transformer.wte.weight')],
}
# Buffers, not parameters: recomputed by the model.
_BUFFERS = re.compile(r'(position_ids|embeddings\.token_type_ids|'
                      r'attn\.bias|attn\.masked_bias)$')


# Every head a family's checkpoints may hold.
_FAMILY_HEADS = {
    'bert': {'pooler', 'mlm', 'sentence', 'classifier', 'qa'},
    'albert': {'pooler', 'mlm', 'sentence', 'classifier', 'qa'},
    'electra': {'mlm', 'discriminator', 'classifier', 'qa'},
    'distilbert': {'mlm', 'classifier', 'qa'}, 'gpt2': set()}


def is_buffer(name: str) -> bool:
  """A buffer (position ids, GPT-2's causal mask), not a parameter."""
  return bool(_BUFFERS.search(name))


def links(architecture: str, body: TransformerConfig, jax_body: str,
          jax_embeddings: str = 'embeddings', jax_heads: dict | None = None,
          heads: set | None = None) -> list[Link]:
  """The links of HF class `architecture` over an lm_jax body whose stack
  is at `jax_body` and embeddings at `jax_embeddings`; `jax_heads` maps
  the heads ('pooler', 'mlm', 'sentence', 'discriminator', 'classifier',
  'qa') to where lm_jax keeps them. `heads`: the heads the checkpoint
  holds, when not its class's (a BertForMaskedLM checkpoint that kept
  BERT's NSP head)."""
  family, class_heads = ARCHITECTURES[architecture]
  heads = class_heads if heads is None else heads
  base = BASE_PREFIX[family]
  jax_heads = jax_heads or {}
  entries = []  # (leaves, hf, kind, layer)

  def add(table, hf_prefix, jax_prefix, layer=None):
    for leaves, hf, kind in table:
      leaves = (leaves,) if isinstance(leaves, str) else leaves
      entries.append((tuple(f'{jax_prefix}/{l}' for l in leaves),
                      f'{hf_prefix}.{hf}', kind, layer))

  e = jax_embeddings
  if family == 'gpt2':
    add([('word_embeddings/embedding', 'wte.weight', 'same'),
         ('position_embeddings/embedding', 'wpe.weight', 'same')], base, e)
  else:
    add([('word_embeddings/embedding', 'word_embeddings.weight', 'same'),
         ('position_embeddings/embedding', 'position_embeddings.weight',
          'same')]
        + ([('token_type_embeddings/embedding',
             'token_type_embeddings.weight', 'same')]
           if body.type_vocab_size else [])
        + _norm('layer_norm', 'LayerNorm'), f'{base}.embeddings', e)

  if family == 'albert':
    add(_dense('embeddings_project', 'embedding_hidden_mapping_in'),
        f'{base}.encoder', jax_body)
    attention_of, ffn_of = layer_groups(body)
    for g in range(max(attention_of) + 1):
      add(_ALBERT_ATTENTION,
          f'{base}.encoder.albert_layer_groups.{g}.albert_layers.0',
          f'{jax_body}/attention_{g}')
    for g in range(max(ffn_of) + 1):
      add(_ALBERT_FFN,
          f'{base}.encoder.albert_layer_groups.{g}.albert_layers.0',
          f'{jax_body}/ffn_{g}')
  else:
    if body.embedding_size != body.hidden_size:  # ELECTRA
      add(_dense('embeddings_project', 'embeddings_project'), base, jax_body)
    layer_table, layers_hf = {
        'bert': (_BERT_ATTENTION + _BERT_FFN, 'encoder.layer'),
        'electra': (_BERT_ATTENTION + _BERT_FFN, 'encoder.layer'),
        'distilbert': (_DISTILBERT_LAYER, 'transformer.layer'),
        'gpt2': (_GPT2_LAYER, 'h')}[family]
    for i in range(body.num_layers):
      add(layer_table, f'{base}.{layers_hf}.{i}', f'{jax_body}/layers', i)
    if family == 'gpt2':
      add(_norm('final_layer_norm', 'ln_f'), base, jax_body)

  if 'pooler' in heads and 'pooler' in jax_heads:
    hf = f'{base}.pooler' + ('.dense' if family == 'bert' else '')
    add(_dense('', hf), '', jax_heads['pooler'])
  if 'sentence' in heads and 'sentence' in jax_heads:
    hf = {'bert': 'cls.seq_relationship',
          'albert': 'sop_classifier.classifier'}[family]
    add(_dense('', hf), '', jax_heads['sentence'])
  if 'mlm' in heads and 'mlm' in jax_heads:
    dense, norm, bias = {
        'bert': ('cls.predictions.transform.dense',
                 'cls.predictions.transform.LayerNorm', 'cls.predictions.bias'),
        'albert': ('predictions.dense', 'predictions.LayerNorm',
                   'predictions.bias'),
        'electra': ('generator_predictions.dense',
                    'generator_predictions.LayerNorm', 'generator_lm_head.bias'),
        'distilbert': ('vocab_transform', 'vocab_layer_norm',
                       'vocab_projector.bias')}[family]
    add(_dense('dense', dense) + _norm('layer_norm', norm)
        + [('output_bias', bias, 'same')], '', jax_heads['mlm'])
  for head, hf in (('classifier', 'classifier'), ('qa', 'qa_outputs')):
    if head in heads and head in jax_heads:
      add(_dense('', hf), '', jax_heads[head])
  if 'discriminator' in heads and 'discriminator' in jax_heads:
    add(_dense('dense', 'discriminator_predictions.dense')
        + _dense('prediction', 'discriminator_predictions.dense_prediction'),
        '', jax_heads['discriminator'])

  clean = lambda path: re.sub('/+', '/', path).strip('/')
  return [Link(hf=hf.lstrip('.'), leaves=tuple(clean(l) for l in leaves),
               kind=kind, layer=layer)
          for leaves, hf, kind, layer in entries]


def heads_in(architecture: str, body: TransformerConfig,
             tensors: dict) -> set:
  """The heads of the class's family whose tensors `tensors` hold (named
  as `normalize_names` names them)."""
  family = ARCHITECTURES[architecture][0]
  probe = links(architecture, body, 'body', 'embeddings',
                {h: f'head:{h}' for h in _FAMILY_HEADS[family]},
                _FAMILY_HEADS[family])
  return {link.leaves[0].split('/')[0][len('head:'):] for link in probe
          if link.leaves[0].startswith('head:') and link.hf in tensors}


def tied_names(architecture: str) -> list[tuple[str, str]]:
  """(copy, original) HF names of tied tensors the class may hold."""
  return _TIED[ARCHITECTURES[architecture][0]]


def normalize_names(tensors: dict, architecture: str) -> dict:
  """The tensors named as current transformers names them: LayerNorms'
  old `gamma`/`beta` (bert-base-uncased's files) as `weight`/`bias`, and a
  bare model's checkpoint ('embeddings.word_embeddings.weight', GPT-2's
  'h.0...') given the prefix the heads' classes use ('bert.embeddings...')."""
  base = BASE_PREFIX[ARCHITECTURES[architecture][0]]
  renamed = {re.sub(r'(LayerNorm|layer_norm|ln_\w+)\.gamma$', r'\1.weight',
                    re.sub(r'(LayerNorm|layer_norm|ln_\w+)\.beta$',
                           r'\1.bias', name)): t
             for name, t in tensors.items()}
  if any(name.startswith(base + '.') for name in renamed):
    return renamed
  return {f'{base}.{name}': t for name, t in renamed.items()}


# The moves. `shape` is the lm_jax array's (one layer's, for a stack).


def hf_shape(kind: str, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
  """The HF tensor's shape for lm_jax arrays of `shapes`."""
  shape = shapes[0]
  size = math.prod
  if kind == 'same':
    return shape
  if kind == 'flat':
    return (size(shape),)
  if kind in ('linear', 'linear2'):
    n = 1 if kind == 'linear' else 2
    return (size(shape[n:]), size(shape[:n]))
  if kind in ('conv1d', 'conv1d2'):
    n = 1 if kind == 'conv1d' else 2
    return (size(shape[:n]), size(shape[n:]))
  if kind == 'fused_kernel':
    return (shape[0], sum(size(s[1:]) for s in shapes))
  if kind == 'fused_bias':
    return (sum(size(s) for s in shapes),)
  raise ValueError(f'unknown link kind {kind!r}')


def from_hf(kind: str, tensor: np.ndarray,
            shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
  """The lm_jax arrays (of `shapes`) that an HF tensor holds."""
  if kind in ('linear', 'linear2'):
    return [tensor.T.reshape(shapes[0])]
  if kind in ('same', 'flat', 'conv1d', 'conv1d2'):
    return [tensor.reshape(shapes[0])]
  parts = np.split(tensor, 3, axis=-1)
  return [part.reshape(shape) for part, shape in zip(parts, shapes)]


def to_hf(kind: str, arrays: list[np.ndarray]) -> np.ndarray:
  """The HF tensor that holds lm_jax `arrays`."""
  x = arrays[0]
  if kind == 'same':
    return x
  if kind == 'flat':
    return x.reshape(-1)
  if kind in ('linear', 'linear2'):
    n = 1 if kind == 'linear' else 2
    return x.reshape(math.prod(x.shape[:n]), -1).T
  if kind in ('conv1d', 'conv1d2'):
    n = 1 if kind == 'conv1d' else 2
    return x.reshape(math.prod(x.shape[:n]), -1)
  if kind == 'fused_kernel':
    return np.concatenate([a.reshape(a.shape[0], -1) for a in arrays], axis=1)
  if kind == 'fused_bias':
    return np.concatenate([a.reshape(-1) for a in arrays])
  raise ValueError(f'unknown link kind {kind!r}')


@dataclasses.dataclass
class Report:
  """What a conversion found that does not fit."""
  missing: list[str] = dataclasses.field(default_factory=list)  # HF names
  extra: list[str] = dataclasses.field(default_factory=list)  # HF names
  misshapen: list[str] = dataclasses.field(default_factory=list)
  untied: list[str] = dataclasses.field(default_factory=list)

  def problems(self) -> list[str]:
    out = []
    for what, names in (('missing', self.missing), ('unexpected', self.extra),
                        ('of the wrong shape', self.misshapen),
                        ('not tied to the tensor they must equal',
                         self.untied)):
      if names:
        shown = ', '.join(names[:6]) + (f' and {len(names) - 6} more'
                                        if len(names) > 6 else '')
        out.append(f'{len(names)} tensor(s) {what}: {shown}')
    return out


def params_from_tensors(model_links: list[Link], tensors: dict,
                        shapes: dict[str, tuple[int, ...]], architecture: str,
                        out: dict[str, np.ndarray], report: Report) -> set:
  """Fills `out` (lm_jax leaf path -> array, f32) from the HF `tensors`
  (named by `normalize_names`);
  returns the leaves it filled completely. Names that are not linked,
  tensors of the wrong shape and untied copies go to `report`. A leaf
  filled twice (ELECTRA's shared embeddings, from both halves) must get the
  same values."""
  linked = {link.hf for link in model_links}
  for copy, original in tied_names(architecture):
    if copy in tensors:
      if original in tensors and not np.array_equal(tensors[copy],
                                                    tensors[original]):
        report.untied.append(copy)
      linked.add(copy)
  report.extra += sorted(name for name in tensors
                         if name not in linked and not is_buffer(name))
  filled_layers: dict[str, set] = {}
  for link in model_links:
    if link.hf not in tensors:
      report.missing.append(link.hf)
      continue
    layer_shapes = [shapes[l][1:] if link.layer is not None else shapes[l]
                    for l in link.leaves]
    tensor = tensors[link.hf]
    expected = hf_shape(link.kind, layer_shapes)
    if tuple(tensor.shape) != expected:
      report.misshapen.append(f'{link.hf} {tuple(tensor.shape)} (the config '
                              f'says {expected})')
      continue
    for leaf, array in zip(link.leaves,
                           from_hf(link.kind, tensor.astype(np.float32),
                                   layer_shapes)):
      if link.layer is None:
        if leaf in out and not np.array_equal(out[leaf], array):
          report.untied.append(f'{link.hf} (differs from the other half\'s)')
        out[leaf] = array
        filled_layers[leaf] = {None}
      else:
        out.setdefault(leaf, np.zeros(shapes[leaf], np.float32))[
            link.layer] = array
        filled_layers.setdefault(leaf, set()).add(link.layer)
  return {leaf for leaf, layers in filled_layers.items()
          if layers == {None} or len(layers) == shapes[leaf][0]}


def tensors_from_params(model_links: list[Link], params: dict[str, np.ndarray]
                        ) -> dict[str, np.ndarray]:
  """The HF tensors of `params` (lm_jax leaf path -> array)."""
  tensors = {}
  for link in model_links:
    arrays = [params[l] if link.layer is None else params[l][link.layer]
              for l in link.leaves]
    tensors[link.hf] = np.ascontiguousarray(to_hf(link.kind, arrays))
  return tensors
