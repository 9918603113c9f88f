"""Perplexity and bits per byte of a causal LM on text, with a sliding window.

The text. Each file of `--data` (comma-separated globs, `.txt`/`.gz`, read
by `data_pipelines.sources` as pretraining reads its text files, undecodable
bytes as the run's `data.decode_errors` says) is one text: its lines, each
ended by a newline (LF: a CRLF becomes LF, a missing final newline is added,
a leading BOM is dropped); blank lines are kept, as in WikiText's
`wiki.valid.raw`. A text's token stream is the end-of-text token followed by
the tokenizer's ids of the whole text: in the packed pretraining stream
every document follows an end-of-text token, so the text's first token is
predicted as a document's first token is, and every token of the text is
scored. Files are separate streams: no window crosses from one to the next.

The windows (`windows`), over a stream of N tokens x_0 .. x_{N-1}: input
position p feeds x_p and predicts x_{p+1}, for p in [0, N - 1). With context
C (the model's max_positions unless given) and stride S in [1, C], window k
feeds positions [begin, end) = [k*S, min(k*S + C, N - 1)) and scores the
predictions of positions [first, end), first being the previous window's
end (0 for the first window); the last window is the first to reach N - 1.
So each token x_t, t = 1 .. N-1, is scored exactly once, predicted from at
least C - S + 1 tokens (from all of x_0 .. x_{t-1} while t <= C); S = C
gives disjoint windows, S = 1 the most context. This is the scheme of Hugging
Face's "perplexity of fixed-length models" guide, with each window's C
inputs predicting C tokens (the token after the window's last input is its
last target), so no window wastes a prediction and S = C leaves no token
unscored.

The figures: `tokens` (scored: the text tokens of all files), `loss` (mean
NLL in nats per scored token), `perplexity` = exp(loss), and `bits_per_byte`
= total NLL / ln 2 / `bytes`, where `bytes` counts the UTF-8 bytes of the
texts as defined above (the lines and their newlines), exactly the text whose
every token is scored.
"""
import functools
import math
from typing import Iterator

import jax
import jax.numpy as jnp
import numpy as np
import optax

from data_pipelines import sources
from lm_jax import sharding
from lm_jax.errors import InputError
from lm_jax.models.gpt import CausalLM
from lm_jax.models.model_config import TransformerConfig
from lm_jax.trained_lm import TrainedLM

DEFAULT_BATCH = 8  # windows per step, rounded up to the mesh's batch shards


def check_window(context: int, stride: int, max_positions: int) -> None:
  """InputError (naming the flag) unless 1 <= stride <= context <=
  max_positions."""
  if not 1 <= context <= max_positions:
    raise InputError(f'--context must be in [1, {max_positions}] (the '
                     f'model\'s positions), got {context}')
  if not 1 <= stride <= context:
    raise InputError(f'--stride must be in [1, --context={context}], got '
                     f'{stride}')


def windows(num_tokens: int, context: int, stride: int) -> np.ndarray:
  """The windows over a stream of `num_tokens` tokens, as [W, 3] int64 rows
  (begin, end, first): the window feeds tokens [begin, end), its position p
  predicts token p + 1, and it scores the predictions of positions
  [first, end), i.e. tokens first + 1 .. end. See the module docstring.

  A stream of fewer than 2 tokens has no windows.
  """
  if not 1 <= stride <= context:
    raise ValueError(f'stride {stride} must be in [1, context={context}]')
  predictions = num_tokens - 1
  rows, prev_end = [], 0
  for begin in range(0, max(predictions, 0), stride):
    end = min(begin + context, predictions)
    rows.append((begin, end, prev_end))
    prev_end = end
    if end == predictions:
      break
  return np.asarray(rows, np.int64).reshape(-1, 3)


def window_batches(streams: list[np.ndarray], context: int, stride: int,
                   batch_size: int) -> Iterator[dict]:
  """Every stream's windows, `batch_size` rows of `context` positions at a
  time, as numpy arrays: input_ids, input_mask (1 on fed tokens), targets
  (the next token) and weights (1 on scored predictions). Rows are padded on
  the right, and the last batch with empty rows, all with weight 0, so
  every batch has one shape."""
  rows = [(stream, begin, end, first) for stream in streams
          for begin, end, first in windows(len(stream), context, stride)]
  for start in range(0, len(rows), batch_size):
    ids_BxC = np.zeros((batch_size, context), np.int32)
    targets_BxC = np.zeros((batch_size, context), np.int32)
    mask_BxC = np.zeros((batch_size, context), np.int32)
    weights_BxC = np.zeros((batch_size, context), np.float32)
    for row, (stream, begin, end, first) in enumerate(
        rows[start:start + batch_size]):
      width = end - begin
      ids_BxC[row, :width] = stream[begin:end]
      targets_BxC[row, :width] = stream[begin + 1:end + 1]
      mask_BxC[row, :width] = 1
      weights_BxC[row, first - begin:width] = 1
    yield {'input_ids': ids_BxC, 'input_mask': mask_BxC,
           'targets': targets_BxC, 'weights': weights_BxC}


@functools.partial(jax.jit, static_argnames=('config',))
def _nll_sums(params, batch: dict, *, config: TransformerConfig):
  """(Σ weight·NLL, Σ weight) of a batch of windows, f32 scalars."""
  model = CausalLM(config, deterministic=True)
  logits_BxCxV = model.apply({'params': params}, batch['input_ids'],
                             batch['input_mask'])
  nll_BxC = optax.softmax_cross_entropy_with_integer_labels(logits_BxCxV,
                                                            batch['targets'])
  weights_BxC = batch['weights']
  # `where`, not a product: a padding row (no key at all) must not turn the
  # sum into NaN, whatever the attention kernel makes of it.
  nll_BxC = jnp.where(weights_BxC > 0, nll_BxC, 0.0)
  return jnp.sum(nll_BxC * weights_BxC), jnp.sum(weights_BxC)


def total_nll(config: TransformerConfig, params, streams: list[np.ndarray],
              *, context: int, stride: int, batch_size: int = DEFAULT_BATCH,
              batch_sharding=None) -> tuple[float, int]:
  """(Σ NLL in nats, scored tokens) of the streams' windows.

  Args:
    config: the causal LM's body.
    params: its parameters.
    streams: token ids, one array per text.
    context: inputs per window (<= config.max_positions).
    stride: window start to window start, in [1, context].
    batch_size: windows per jitted step (global).
    batch_sharding: lays a global batch out over a mesh (call within
      `sharding.use`), each host giving its slice of the rows; None: plain
      arrays on the default device.
  """
  check_window(context, stride, config.max_positions)
  total, count = 0.0, 0.0
  num_hosts, host = jax.process_count(), jax.process_index()
  local = batch_size // num_hosts
  for batch in window_batches(streams, context, stride, batch_size):
    if batch_sharding is None:
      batch = {k: jnp.asarray(v) for k, v in batch.items()}
    else:
      batch = sharding.global_batch(
          {k: v[host * local:(host + 1) * local] for k, v in batch.items()},
          batch_sharding)
    nll, weight = _nll_sums(params, batch, config=config)
    total += float(nll)  # summed over batches in float64
    count += float(weight)
  return total, int(round(count))


def bits_per_byte(total_nll: float, num_bytes: int) -> float:
  """Total NLL (nats) over the bytes of the text it scores, in bits."""
  return total_nll / math.log(2) / num_bytes


def read_texts(patterns: str, decode_errors: str = 'strict',
               report: sources.DecodeReport | None = None
               ) -> list[tuple[str, str]]:
  """(path, text) of each file `patterns` (comma-separated globs) names:
  its lines, each ended by a newline (see the module docstring)."""
  texts = []
  for path in sources.list_files(patterns, '--data'):
    lines = sources.read_lines(path, decode_errors, report)
    texts.append((path, ''.join(line + '\n' for line in lines)))
  return texts


def text_stream(tokenizer, text: str) -> np.ndarray:
  """The end-of-text token, then the ids of `text`."""
  return np.asarray([tokenizer.eot_id] + tokenizer.encode(text), np.int32)


def evaluate(lm: TrainedLM, data: str, *, context: int = 0, stride: int = 0,
             batch_size: int = 0, log=print) -> dict:
  """The figures of `lm` on the files `data` names (see the module
  docstring).

  Args:
    lm: an opened causal LM.
    data: comma-separated globs of text files.
    context: window length; 0: the model's max_positions.
    stride: window start to window start; 0: context // 2 (at least 1).
    batch_size: windows per step, a multiple of lm.batch_shards; 0: the
      smallest multiple of it that is at least DEFAULT_BATCH.
    log: prints notes (lines with undecodable bytes).
  """
  context = context or lm.body.max_positions
  stride = stride or max(1, context // 2)
  check_window(context, stride, lm.body.max_positions)
  shards = lm.batch_shards
  batch_size = batch_size or shards * -(-DEFAULT_BATCH // shards)
  sharding.check_batch(batch_size, lm.mesh, jax.process_count())
  report = sources.DecodeReport(lm.config.data.decode_errors)
  texts = read_texts(data, report.errors, report)
  if report.summary():
    log(f'--data: {report.summary()}.')
  streams = [text_stream(lm.tokenizer, text) for _, text in texts]
  num_tokens = sum(len(s) - 1 for s in streams)
  if not num_tokens:
    raise InputError(f'--data {data} holds no text to score')
  num_bytes = sum(len(text.encode('utf-8')) for _, text in texts)
  with sharding.use(lm.mesh, lm.rules):
    total, tokens = total_nll(
        lm.body, lm.params, streams, context=context, stride=stride,
        batch_size=batch_size,
        batch_sharding=sharding.batch_sharding(lm.mesh))
  assert tokens == num_tokens, (tokens, num_tokens)  # each scored once
  loss = total / tokens
  return {'step': lm.step, 'files': len(texts), 'tokens': tokens,
          'bytes': num_bytes, 'loss': loss, 'perplexity': math.exp(loss),
          'bits_per_byte': bits_per_byte(total, num_bytes),
          'context': context, 'stride': stride}
