"""Sentence embeddings from a pretrained body, without training, and their
score on STS-B.

Embedding (`embed`). Each sentence is a row of its own, as the model read
text in pretraining: an encoder's `[CLS] sentence [SEP]` (segment 0), a
causal LM's end-of-text token then the sentence. The row goes through the
pretrained body alone (the objective's `backbone_paths`: ELECTRA's
discriminator, the BERT family's encoder, a GPT's decoder), and its final
hidden states are averaged over the row's real tokens (the special ones
included, padding not), so an embedding does not depend on what else is in
the batch. A sentence too long for the context loses its end. Rows run in a
few padded shapes (`lm_jax/buckets.py`): the forward compiles once per
bucket length.

STS-B (`evaluate_stsb`). Each pair of GLUE's STS-B `dev.tsv` is scored by
the cosine similarity of its two sentences' embeddings; the figures are
Spearman's rank correlation of the cosines with the gold scores (the usual
measure for embeddings used as they are) and Pearson's r, as fractions.
"""
import functools
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from data_pipelines.tasks import files, glue
from lm_jax import buckets, sharding
from lm_jax.errors import InputError
from lm_jax.finetuning import metrics
from lm_jax.models.embeddings import Embeddings
from lm_jax.models.encoder import Encoder
from lm_jax.models.model_config import TransformerConfig
from lm_jax.objectives import get_objective
from lm_jax.trained_lm import TrainedLM, open_trained


class Body(nn.Module):
  """A pretrained body under the names fine-tuning loads it by: final
  states [B, L, H] of ids [B, L] (segment 0) with their real-token mask."""
  config: TransformerConfig

  def setup(self):
    self.embeddings = Embeddings(self.config)
    self.encoder = Encoder(self.config)

  def __call__(self, ids_BxL, input_mask_BxL):
    x_BxLxE = self.embeddings(ids_BxL, jnp.zeros_like(ids_BxL))
    return self.encoder(x_BxLxE, input_mask_BxL)


def body_params(trained: TrainedLM) -> dict:
  """The `Body` parameters of a pretraining checkpoint: its embeddings and
  encoder (ELECTRA's discriminator, a GPT's decoder)."""
  config = trained.config
  if 'task' in config:
    raise InputError(f'{trained.workdir} is a fine-tuning run; embed with the '
                     'pretraining workdir it started from')
  paths = get_objective(config.objective.name).backbone_paths(config)

  def at(path):
    node = trained.params
    for key in path:
      node = node[key]
    return node

  return {'embeddings': at(paths['embeddings']),
          'encoder': at(paths['encoder'])}


def token_rows(trained: TrainedLM, texts: list[str]
               ) -> tuple[list[list[int]], int]:
  """Each text's row of ids, and how many texts lost their end to fit."""
  tokenizer, body = trained.tokenizer, trained.body
  room = body.max_positions - (1 if body.causal else 2)
  rows, truncated = [], 0
  for text in texts:
    ids = tokenizer.encode(text)
    truncated += len(ids) > room
    ids = ids[:room]
    rows.append([tokenizer.eot_id] + ids if body.causal
                else [tokenizer.cls_id] + ids + [tokenizer.sep_id])
  return rows, truncated


@functools.partial(jax.jit, static_argnames=('config',))
def _mean_states(params, batch: dict, *, config: TransformerConfig) -> dict:
  """Each row's final states averaged over its real tokens, [B, H] f32."""
  h_BxLxH = Body(config).apply({'params': params}, batch['input_ids'],
                               batch['input_mask'])
  real_BxLx1 = (batch['input_mask'] > 0)[..., None]
  # `where`, not a product: an empty padding row's states may be NaN.
  sum_BxH = jnp.sum(jnp.where(real_BxLx1, h_BxLxH.astype(jnp.float32), 0.0),
                    axis=1)
  count_Bx1 = jnp.maximum(jnp.sum(real_BxLx1, axis=1), 1)
  return {'embedding': sum_BxH / count_Bx1}


def embed_rows(trained: TrainedLM, rows: list[list[int]], *,
               batch_size: int = 0) -> np.ndarray:
  """The mean-pooled final states of each row of ids, [N, H] float32;
  `batch_size` rows per step, 0: as `buckets.rows_per_batch` says."""
  body = trained.body
  params = body_params(trained)
  embeddings_NxH = np.zeros((len(rows), body.hidden_size), np.float32)
  mean_states = lambda batch: _mean_states(params, batch, config=body)
  with sharding.use(trained.mesh, trained.rules):
    for length, num_rows, index in buckets.batches(
        [len(r) for r in rows], body.max_positions,
        shards=trained.batch_shards, batch_size=batch_size):
      ids_BxL = np.zeros((num_rows, length), np.int32)
      mask_BxL = np.zeros((num_rows, length), np.int32)
      for row, i in enumerate(index):
        ids_BxL[row, :len(rows[i])] = rows[i]
        mask_BxL[row, :len(rows[i])] = 1
      out = buckets.run(mean_states,
                        {'input_ids': ids_BxL, 'input_mask': mask_BxL},
                        trained.mesh)
      embeddings_NxH[index] = out['embedding'][:len(index)]
  return embeddings_NxH


def embed(trained: TrainedLM, texts: list[str], *,
          batch_size: int = 0) -> np.ndarray:
  """Each text's embedding, [N, H] float32 (see the module docstring)."""
  return embed_rows(trained, token_rows(trained, texts)[0],
                    batch_size=batch_size)


def cosine(u_NxH: np.ndarray, v_NxH: np.ndarray) -> np.ndarray:
  """Row-wise cosine similarity in float64, [N] (0 where a vector is
  zero): the cosines of untrained embeddings can be close together."""
  u_NxH, v_NxH = np.asarray(u_NxH, np.float64), np.asarray(v_NxH, np.float64)
  dots_N = np.sum(u_NxH * v_NxH, axis=1)
  norms_N = np.linalg.norm(u_NxH, axis=1) * np.linalg.norm(v_NxH, axis=1)
  return np.where(norms_N > 0, dots_N / np.maximum(norms_N, 1e-30), 0.0)


def read_stsb(data: str) -> list[glue.PairExample]:
  """STS-B's dev pairs in the folder `data` (STS-B's own, or a GLUE folder
  holding STS-B/); InputError naming the file and line for a bad row."""
  spec = glue.get_task('stsb')
  if not data:
    raise InputError('set --data=DIR, the folder of STS-B\'s dev.tsv')
  if '://' not in data and not os.path.isdir(data):
    raise InputError(f'--data {data} is not a directory (the folder of '
                     'STS-B\'s dev.tsv)')
  names = (spec.split('dev').file_name,)
  path = (files.find_optional(data, names) or
          files.find_optional(os.path.join(data, spec.directory), names))
  if path is None:
    raise InputError(f'{data} has no STS-B dev file (looked for dev.tsv '
                     f'there and in {spec.directory}/, also gzipped)')
  return glue.read_split(spec, path, labelled=True)[0]


def evaluate_stsb(trained: TrainedLM, pairs: list[glue.PairExample], *,
                  max_examples: int = 0, batch_size: int = 0) -> dict:
  """Spearman and Pearson correlation of the pairs' cosine similarities
  with their gold scores (the first `max_examples` pairs; 0: all)."""
  if max_examples < 0:
    raise InputError(f'--max_examples must be at least 0, got {max_examples}')
  if batch_size:
    sharding.check_batch(batch_size, trained.mesh, jax.process_count())
  pairs = pairs[:max_examples or len(pairs)]
  rows, truncated = token_rows(
      trained, [p.text_a for p in pairs] + [p.text_b for p in pairs])
  embeddings_2NxH = embed_rows(trained, rows, batch_size=batch_size)
  n = len(pairs)
  cosines_N = cosine(embeddings_2NxH[:n], embeddings_2NxH[n:])
  gold_N = np.asarray([p.label for p in pairs], np.float64)
  return {'step': trained.step, 'task': 'stsb', 'num_examples': n,
          'spearman': metrics.spearman(gold_N, cosines_N),
          'pearson': metrics.pearson(gold_N, cosines_N),
          'sentences_truncated': truncated}


def run_stsb(workdir: str, data: str, **settings) -> dict:
  """`evaluate_stsb` on the workdir's body and STS-B's dev pairs in `data`
  (read first, so a bad file is refused before the model is built);
  `settings`: evaluate_stsb's keyword arguments."""
  if settings.get('max_examples', 0) < 0:
    raise InputError('--max_examples must be at least 0, got '
                     f'{settings["max_examples"]}')
  pairs = read_stsb(data)
  if not workdir:
    raise InputError('set --workdir=WORKDIR of a pretraining run')
  return evaluate_stsb(open_trained(workdir), pairs, **settings)
