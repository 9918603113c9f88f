"""Rows of many lengths run as a few padded shapes.

Scoring choices (`lm_jax/in_context.py`) and embedding sentences
(`lm_jax/sentence_embeddings.py`) run rows of every length up to the model's
context. Each row goes to the smallest bucket length that holds it (powers
of two from MIN_BUCKET, the last bucket being the context itself), and the
rows of a bucket run together in batches of one shape, padded on the right,
so a jitted forward compiles once per bucket rather than once per row.

A bucket's batch holds `batch_size` rows if given; else as many as fit
TOKENS_PER_BATCH tokens, but no more than the bucket's rows need (rounded up
to a power of two); always a multiple of the mesh's batch shards. The last
batch of a bucket is filled with empty rows, which the callers mask.
"""
from typing import Callable, Iterator, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils

from lm_jax import sharding

MIN_BUCKET = 16
TOKENS_PER_BATCH = 4096


def lengths(max_length: int) -> list[int]:
  """The bucket lengths for rows of at most `max_length` tokens."""
  buckets, length = [], MIN_BUCKET
  while length < max_length:
    buckets.append(length)
    length *= 2
  return buckets + [max_length]


def batches(row_lengths: Sequence[int], max_length: int, *, shards: int,
            batch_size: int = 0) -> Iterator[tuple[int, int, np.ndarray]]:
  """(bucket length, rows per batch, the indices of the batch's rows) for
  every batch: each row (of `row_lengths[i]` tokens, at most `max_length`)
  is in exactly one, and a batch with fewer rows is to be padded to the
  bucket's rows per batch."""
  lengths_N = np.asarray(row_lengths, np.int64)
  if lengths_N.size and lengths_N.max() > max_length:
    raise ValueError(f'a row of {lengths_N.max()} tokens exceeds '
                     f'{max_length}')
  buckets_K = np.asarray(lengths(max_length))
  bucket_N = np.searchsorted(buckets_K, lengths_N)  # the first that holds it
  for k, length in enumerate(buckets_K):
    rows = np.flatnonzero(bucket_N == k)
    size = rows_per_batch(int(length), len(rows), shards, batch_size)
    for start in range(0, len(rows), size):
      yield int(length), size, rows[start:start + size]


def rows_per_batch(length: int, num_rows: int, shards: int,
                   batch_size: int = 0) -> int:
  """The rows of each batch of a bucket of `length` holding `num_rows`."""
  if batch_size:
    return batch_size
  budget = max(1, TOKENS_PER_BATCH // length)
  needed = 1 << max(0, num_rows - 1).bit_length()  # a power of two >= rows
  return shards * -(-min(budget, needed) // shards)


def run(fn: Callable[[dict], dict], batch: dict, mesh) -> dict:
  """`fn` on a global numpy batch laid out over `mesh` (each host giving its
  slice of the rows; call within `sharding.use`); its outputs as numpy
  arrays, whole on every host."""
  num_hosts, host = jax.process_count(), jax.process_index()
  local = len(next(iter(batch.values()))) // num_hosts
  placed = sharding.global_batch(
      {k: v[host * local:(host + 1) * local] for k, v in batch.items()},
      sharding.batch_sharding(mesh))
  return {k: np.asarray(v) for k, v in
          multihost_utils.process_allgather(fn(placed), tiled=True).items()}
