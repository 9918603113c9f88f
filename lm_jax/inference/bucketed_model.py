"""A model function run over rows of many lengths, each batch shape compiled
once.

A row is a dict of 1-D arrays: its tokens ('ids', 'segment_ids',
'input_mask', all of the row's length) and any others (a fill-mask row's
mask positions). Rows are bucketed by their tokens and batched as
`lm_jax.buckets` says; each array of a batch is padded on the right to the
smallest bucket length holding its longest, so the tokens take their
bucket's length and the other arrays one of a few lengths too. A last,
smaller batch is filled with copies of its first row, dropped from the
outputs. Padding changes no real row's outputs: padded positions are masked
out as keys, and rows do not see each other.

Each batch shape is lowered and compiled once and kept in a dict, so a later
call whose inputs fall in the same buckets runs without tracing (`traces`
counts the traces).
"""
from typing import Any, Callable

import jax
import numpy as np

from lm_jax import buckets, sharding
from lm_jax.trained_lm import TrainedLM


class BucketedModel:
  """`forward(params, batch) -> {name: [B, ...]}` over rows of any length
  up to `max_length`, on a trained model's mesh, with its parameters
  `lm.params` (or `params`)."""

  def __init__(self, forward: Callable[[Any, dict], dict], lm: TrainedLM, *,
               batch_size: int, max_length: int, pad_values: dict,
               params=None):
    self._forward = forward
    self._lm = lm
    self._params = lm.params if params is None else params
    self._batch_size = batch_size  # 0: as buckets.rows_per_batch says
    self._max_length = max_length
    self._pad_values = pad_values  # array name -> its padding (else 0)
    self._compiled = {}  # ((name, shape), ...) -> compiled function
    self.traces = 0

  @property
  def compiled_shapes(self) -> list:
    return list(self._compiled)

  def __call__(self, rows: list[dict]) -> list[dict]:
    """Each row's outputs as numpy arrays (of its bucket's lengths), in
    order."""
    lm = self._lm
    outputs = [None] * len(rows)
    widths = buckets.lengths(self._max_length)
    with sharding.use(lm.mesh, lm.rules):
      for _, num_rows, index in buckets.batches(
          [len(row['ids']) for row in rows], self._max_length,
          shards=lm.batch_shards, batch_size=self._batch_size):
        chosen = [rows[i] for i in index]
        chosen += chosen[:1] * (num_rows - len(chosen))
        batch = {}
        for name in chosen[0]:
          longest = max(len(row[name]) for row in chosen)
          width = next(w for w in widths if w >= longest)
          batch[name] = np.full((num_rows, width),
                                self._pad_values.get(name, 0),
                                chosen[0][name].dtype)
          for j, row in enumerate(chosen):
            batch[name][j, :len(row[name])] = row[name]
        out = buckets.run(self._run, batch, lm.mesh)
        for j, i in enumerate(index):
          outputs[i] = {name: value[j] for name, value in out.items()}
    return outputs

  def _run(self, batch: dict) -> dict:
    """The forward on a batch laid out over the mesh, compiled once per
    shape."""
    key = tuple((name, value.shape) for name, value in sorted(batch.items()))
    if key not in self._compiled:
      def traced(params, batch):
        self.traces += 1  # runs while tracing only
        return self._forward(params, batch)
      self._compiled[key] = jax.jit(traced).lower(self._params,
                                                  batch).compile()
    return self._compiled[key](self._params, batch)
