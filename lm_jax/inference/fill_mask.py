"""fill-mask: the likeliest tokens for each [MASK] of a text, from a masked
LM's own head: BERT, ALBERT, SpanBERT (objective `mlm`), DistilBERT's
student (`distillation`), or ELECTRA's generator (`electra`).

Inputs: {"text"} with one or more [MASK] (the tokenizer's mask token,
written out); the text between them is tokenised piece by piece and read as
one row `[CLS] tokens [SEP]` of at most the run's data.seq_len tokens.

Outputs: {"masks": [{"start" (the [MASK]'s character offset in the text),
"candidates": [{"token" (its id), "token_str", "score" (its
probability)}], top_k of them, likeliest first}], "sequence" (the row's
tokens decoded, every [MASK] filled with its likeliest token)}.
"""
import jax
import jax.numpy as jnp
import numpy as np

from lm_jax.errors import InputError
from lm_jax.inference import base
from lm_jax.inference.bucketed_model import BucketedModel
from lm_jax.models.electra import ElectraModel
from lm_jax.objectives import get_objective

DEFAULT_TOP_K = 5


def _mlm_logits(model, ids_BxL, segment_ids_BxL, input_mask_BxL,
                positions_BxM):
  return model.mlm_logits(model.encode(ids_BxL, segment_ids_BxL,
                                       input_mask_BxL), positions_BxM)


class FillMask(base.Pipeline):
  task = 'fill-mask'
  objectives = ('mlm', 'distillation', 'electra')
  needs = ('a masked LM pretraining workdir (BERT, ALBERT, SpanBERT, '
           'DistilBERT or ELECTRA)')

  def __init__(self, lm, *, batch_size: int = 0, top_k: int = DEFAULT_TOP_K):
    super().__init__(lm, batch_size=batch_size)
    if top_k < 1:
      raise InputError(f'top_k must be at least 1, got {top_k}')
    tokenizer = lm.tokenizer
    self.top_k = min(top_k, tokenizer.vocab_size)
    self.mask_token = tokenizer.id_to_token(tokenizer.mask_id)
    name = lm.config.objective.name
    model = get_objective(name).build_model(lm.config, tokenizer.vocab_size,
                                            deterministic=True)
    params = lm.params
    if name == 'distillation':  # the student is the model trained
      model, params = model.student, params['student']
    method = (ElectraModel.generator_logits if name == 'electra'
              else _mlm_logits)

    def forward(params, batch):
      logits_BxMxV = model.apply(
          {'params': params}, batch['ids'], batch['segment_ids'],
          batch['input_mask'], batch['positions'], method=method)
      p_BxMxV = jax.nn.softmax(logits_BxMxV.astype(jnp.float32))
      p_BxMxK, ids_BxMxK = jax.lax.top_k(p_BxMxV, self.top_k)
      return {'probabilities': p_BxMxK, 'token_ids': ids_BxMxK}

    self.model = BucketedModel(forward, lm, batch_size=self.batch_size,
                               max_length=lm.config.data.seq_len,
                               pad_values={'ids': tokenizer.pad_id},
                               params=params)

  def parse(self, value: dict, where: str) -> tuple[dict, list]:
    """(the model's row, the [MASK]s' character offsets)."""
    text = base.text(value, 'text', where)
    tokenizer = self.lm.tokenizer
    pieces = text.split(self.mask_token)
    if len(pieces) < 2:
      raise InputError(f'{where}: "text" has no {self.mask_token} to fill')
    ids = [tokenizer.cls_id]
    positions, starts, offset = [], [], 0
    for i, piece in enumerate(pieces):
      if i:
        positions.append(len(ids))
        ids.append(tokenizer.mask_id)
        starts.append(offset)
        offset += len(self.mask_token)
      ids.extend(tokenizer.encode(piece))
      offset += len(piece)
    ids.append(tokenizer.sep_id)
    max_length = self.lm.config.data.seq_len
    if len(ids) > max_length:
      raise InputError(f'{where}: "text" is {len(ids)} tokens with [CLS] and '
                       f'[SEP]; the model reads at most {max_length}')
    ids = np.asarray(ids, np.int32)
    row = {'ids': ids, 'segment_ids': np.zeros_like(ids),
           'input_mask': np.ones_like(ids),
           'positions': np.asarray(positions, np.int32)}
    return row, starts

  def predict(self, parsed: list) -> list[dict]:
    outputs = self.model([row for row, _ in parsed])
    decode = self.lm.tokenizer.decode
    results = []
    for (row, starts), out in zip(parsed, outputs):
      masks = []
      filled = row['ids'].copy()
      for m, (start, position) in enumerate(zip(starts, row['positions'])):
        token_ids = out['token_ids'][m]
        filled[position] = token_ids[0]
        masks.append({'start': start, 'candidates': [
            {'token': int(i), 'token_str': decode([int(i)]),
             'score': float(p)}
            for i, p in zip(token_ids, out['probabilities'][m])]})
      results.append({'masks': masks,
                      'sequence': decode(filled[1:-1].tolist())})
    return results
