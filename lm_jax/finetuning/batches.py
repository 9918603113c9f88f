"""Batches of featurised task data, from numpy arrays held in memory.

Fine-tuning sets are small, so their features live in host memory and no
TensorFlow is needed. As in pretraining, the batch of step k is a pure
function of (seed, k): row j of the global batch is position k*B + j of an
endless stream that walks a fresh seeded permutation every epoch, so a
resumed run needs no iterator state. Each host yields only its rows.
"""
from typing import Iterator

import numpy as np


def num_rows(arrays: dict) -> int:
  return len(next(iter(arrays.values())))


def train_batches(arrays: dict, *, batch_size: int, seed: int,
                  start_step: int, process_index: int = 0,
                  process_count: int = 1) -> Iterator[dict]:
  """This host's rows of the global batches from `start_step` on."""
  n = num_rows(arrays)
  per_host = batch_size // process_count
  permutations = {}

  def permutation(epoch: int) -> np.ndarray:
    if epoch not in permutations:
      permutations.clear()
      permutations[epoch] = np.random.default_rng([seed, epoch]).permutation(n)
    return permutations[epoch]

  step = start_step
  while True:
    first = step * batch_size + process_index * per_host
    stream = np.arange(first, first + per_host)
    epoch = stream // n  # at most two epochs meet in one batch
    rows = np.empty_like(stream)
    for e in np.unique(epoch):
      rows[epoch == e] = permutation(int(e))[stream[epoch == e] % n]
    batch = {k: v[rows] for k, v in arrays.items()}
    batch['weight'] = np.ones(per_host, np.float32)
    yield batch
    step += 1


def eval_batches(arrays: dict, *, batch_size: int, process_index: int = 0,
                 process_count: int = 1) -> Iterator[dict]:
  """One ordered pass; the last global batch is filled with weight-0 rows.

  Global batch i holds rows [i*B, (i+1)*B); outputs gathered in batch order
  are therefore in row order."""
  n = num_rows(arrays)
  per_host = batch_size // process_count
  for first in range(0, n, batch_size):
    start = first + process_index * per_host
    rows = np.arange(start, start + per_host)
    real = rows < n
    rows = np.where(real, rows, 0)
    batch = {k: v[rows] for k, v in arrays.items()}
    batch['weight'] = real.astype(np.float32)
    yield batch
