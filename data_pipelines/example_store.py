"""Built examples on disk, read back by index.

Instance building (tokenising and packing sentences) is sequential and costly,
so it runs once per corpus and writes fixed-length rows to
`<dir>/examples.int32` ([n, 2, L]: token ids and segment ids). Training then
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
_META = 'meta.json'


def write_store(directory: str, rows: Iterable[tuple[np.ndarray, np.ndarray]],
                seq_len: int, description: dict) -> None:
  """Writes (ids [L], segments [L]) rows; the directory appears only when done."""
  tmp = f'{directory}.tmp-{os.getpid()}'
  shutil.rmtree(tmp, ignore_errors=True)
  os.makedirs(tmp)
  count = 0
  try:  # a failure while building (e.g. a bad input line) leaves no temp dir
    with open(os.path.join(tmp, _ROWS), 'wb') as f:
      chunk = []
      for ids, segments in rows:
        chunk.append(np.stack([ids, segments]))
        if len(chunk) == 4096:
          f.write(np.asarray(chunk, np.int32).tobytes())
          count, chunk = count + len(chunk), []
      if chunk:
        f.write(np.asarray(chunk, np.int32).tobytes())
        count += len(chunk)
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

  def __len__(self) -> int:
    return self._rows.shape[0]

  def gather(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids [b, L], segment_ids [b, L]) of the given rows."""
    rows = self._rows[indices]
    return np.ascontiguousarray(rows[:, 0]), np.ascontiguousarray(rows[:, 1])
