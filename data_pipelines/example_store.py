"""Built examples on disk, read back by index.

Instance building (tokenising and packing sentences) is sequential and costly,
so it runs once per corpus and writes fixed-length rows to
`<dir>/examples.int32` ([n, 2, L]: token ids and segment ids), one sentence
label per row to `labels.int32` (NSP/SOP; 0 where unused) and the corpus's
token counts to `token_counts.npy` (SpanBERT's unigram random tokens,
DistilBERT's smoothed masking). Training then
reads rows by index through a memory map, which makes the batch of any step a
pure function of (seed, step): resuming needs only the step number.
"""
import json
import os
import shutil
from typing import Iterable

import numpy as np

from lm_jax.errors import InputError

_ROWS = 'examples.int32'
_LABELS = 'labels.int32'
_COUNTS = 'token_counts.npy'
_META = 'meta.json'


def write_store(directory: str,
                rows: Iterable[tuple[np.ndarray, np.ndarray, int]],
                seq_len: int, description: dict) -> None:
  """Writes (ids [L], segments [L], label) rows; the directory appears only
  when done."""
  tmp = f'{directory}.tmp-{os.getpid()}'
  shutil.rmtree(tmp, ignore_errors=True)
  os.makedirs(tmp)
  count, counts = 0, np.zeros(0, np.int64)
  try:  # a failure while building (e.g. a bad input line) leaves no temp dir
    with open(os.path.join(tmp, _ROWS), 'wb') as f, \
         open(os.path.join(tmp, _LABELS), 'wb') as f_labels:

      def flush(chunk, labels):
        nonlocal count, counts
        rows_n = np.asarray(chunk, np.int32)
        f.write(rows_n.tobytes())
        f_labels.write(np.asarray(labels, np.int32).tobytes())
        chunk_counts = np.bincount(rows_n[:, 0].ravel())
        if len(chunk_counts) > len(counts):
          counts = np.pad(counts, (0, len(chunk_counts) - len(counts)))
        counts[:len(chunk_counts)] += chunk_counts
        count += len(chunk)

      chunk, labels = [], []
      for ids, segments, label in rows:
        chunk.append(np.stack([ids, segments]))
        labels.append(label)
        if len(chunk) == 4096:
          flush(chunk, labels)
          chunk, labels = [], []
      if chunk:
        flush(chunk, labels)
    np.save(os.path.join(tmp, _COUNTS), counts)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  if count == 0:
    shutil.rmtree(tmp)
    raise InputError(f'the training data gave no examples: '
                     f'{description.get("source", "?")} holds no text')
  with open(os.path.join(tmp, _META), 'w') as f:
    json.dump(dict(description, count=count, seq_len=seq_len), f, indent=1)
  shutil.rmtree(directory, ignore_errors=True)
  os.replace(tmp, directory)


class ExampleStore:
  """Read-only view of a written store."""

  def __init__(self, directory: str):
    with open(os.path.join(directory, _META)) as f:
      self.meta = json.load(f)
    self.seq_len = self.meta['seq_len']
    self._rows = np.memmap(os.path.join(directory, _ROWS), np.int32, 'r',
                           shape=(self.meta['count'], 2, self.seq_len))
    self._labels = np.memmap(os.path.join(directory, _LABELS), np.int32, 'r',
                             shape=(self.meta['count'],))
    self._directory = directory

  def __len__(self) -> int:
    return self._rows.shape[0]

  def gather(self, indices: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input_ids [b, L], segment_ids [b, L], labels [b]) of the given rows."""
    rows = self._rows[indices]
    return (np.ascontiguousarray(rows[:, 0]), np.ascontiguousarray(rows[:, 1]),
            np.asarray(self._labels[indices]))

  def token_counts(self, vocab_size: int) -> np.ndarray:
    """How often each id occurs in the stored rows (padding included), [V]."""
    counts = np.load(os.path.join(self._directory, _COUNTS))
    return np.pad(counts, (0, max(0, vocab_size - len(counts))))[:vocab_size]
