"""The pretraining input pipeline: corpus -> examples -> masked batches.

  host_documents (sources.py, this host's shard)
    -> tokenizer -> instance builder (e.g. electra_examples.py)
    -> ExampleStore (built once, cached on disk)
    -> tf.data: step-indexed positions -> rows (a fresh permutation per epoch)
       -> masker (stateless, keyed by (seed, example index)) -> batch
    -> numpy dicts of this host's part of the global batch.

The batch of step k depends only on (seed, k), so a resumed run starts the
stream at its restored step and sees the same batches as an unbroken run.
"""
from typing import Callable, Iterator

import numpy as np

from data_pipelines import cache
from data_pipelines.example_store import ExampleStore, write_store
from data_pipelines.sources import host_documents
from data_pipelines.tf_cpu import tf as tf_module


def build_or_load_examples(data_cfg, tokenizer, tokenizer_id: str,
                           make_builder: Callable, builder_name: str,
                           process_index: int, process_count: int,
                           log=print) -> ExampleStore:
  """This host's examples, built from its documents on first use."""
  documents, sources, read_report = host_documents(data_cfg, process_index,
                                                   process_count)
  signature = (sources if data_cfg.tfds_name else
               cache.file_signature(sources))
  key = cache.fingerprint(signature, tokenizer_id, builder_name,
                          data_cfg.seq_len, data_cfg.seed, process_index,
                          process_count)
  directory = f'{cache.cache_root(data_cfg.cache_dir)}/examples/{key}'
  try:
    return ExampleStore(directory)
  except FileNotFoundError:
    pass
  log(f'Building {builder_name} examples (seq_len {data_cfg.seq_len}) from '
      f'{len(sources)} source(s) into {directory} ...')
  builder = make_builder(seed=data_cfg.seed * 1_000_003 + process_index)
  tokenized = ([tokenizer.encode(line) for line in doc] for doc in documents)
  write_store(directory, builder(tokenized), data_cfg.seq_len,
              dict(source=','.join(sources), builder=builder_name,
                   tokenizer=tokenizer_id, stats=builder.stats.summary()))
  store = ExampleStore(directory)
  log(f'Built: {builder.stats.summary()}.')
  if read_report.summary():
    log(f'Input: {read_report.summary()}.')
  return store


class _EpochPermutation:
  """Row index of each stream position: a seeded permutation per epoch."""

  def __init__(self, num_rows: int, seed: int):
    self.num_rows, self.seed = num_rows, seed
    self._epoch, self._order = -1, None

  def __call__(self, positions: np.ndarray) -> np.ndarray:
    epochs, offsets = np.divmod(positions, self.num_rows)
    rows = np.empty_like(positions)
    for epoch in np.unique(epochs):
      if epoch != self._epoch:
        self._epoch = epoch
        self._order = np.random.default_rng([self.seed, int(epoch)]).permutation(
            self.num_rows)
      rows[epochs == epoch] = self._order[offsets[epochs == epoch]]
    return rows


def batches(store: ExampleStore, *, batch_size: int, start_step: int,
            seed: int, masker: Callable, process_index: int = 0,
            process_count: int = 1, prefetch: int = 2) -> Iterator[dict]:
  """This host's batches from `start_step` on, as dicts of numpy arrays.

  Args:
    batch_size: this host's share of the global batch.
    masker: (example dict, example index) -> example dict, in TF ops.
  """
  tf = tf_module()
  permutation = _EpochPermutation(len(store), seed)

  first = start_step * batch_size
  ds = tf.data.Dataset.range(first, np.iinfo(np.int64).max // 2)
  ds = _masked_rows(ds, store, permutation, masker, batch_size, process_index,
                    process_count)
  ds = ds.batch(batch_size, drop_remainder=True).prefetch(prefetch)
  return _deterministic(ds).as_numpy_iterator()


def eval_batches(store: ExampleStore, *, batch_size: int, masker: Callable,
                 max_batches: int = 0,
                 process_index: int = 0, process_count: int = 1
                 ) -> Iterator[dict]:
  """One pass over the store in order, with the same masks every time.

  The last batch is padded with all-pad rows (input_mask 0, weights 0), so
  every example counts once and nothing else counts. The masker's seed keys
  the masks, and positions are not permuted. With `max_batches`, exactly that
  many batches (all-pad ones after the data runs out), so that every host
  runs the same number of steps.
  """
  tf = tf_module()
  count = len(store)
  if max_batches:
    count = min(count, max_batches * batch_size)
  ds = tf.data.Dataset.range(count)
  ds = _masked_rows(ds, store, lambda positions: positions, masker,
                    batch_size, process_index, process_count)
  ds = ds.batch(batch_size).prefetch(2)
  pad = lambda batch, rows: {
      k: np.concatenate([v, np.zeros((rows, *v.shape[1:]), v.dtype)])
      for k, v in batch.items()}
  produced, batch = 0, None
  for batch in _deterministic(ds).as_numpy_iterator():
    produced += 1
    yield pad(batch, batch_size - len(batch['input_ids']))
  # Hosts holding fewer examples still take part in every step.
  while batch is not None and produced < max_batches:
    produced += 1
    yield pad({k: v[:0] for k, v in batch.items()}, batch_size)


def _masked_rows(positions_ds, store, rows_of, masker, batch_size: int,
                 process_index: int, process_count: int):
  """Stream positions -> masked examples, reading rows a batch at a time."""
  tf = tf_module()

  def read_rows(positions_B):
    ids, segments, labels = tf.numpy_function(
        lambda positions: store.gather(rows_of(positions)), [positions_B],
        [tf.int32, tf.int32, tf.int32])
    shape = [None, store.seq_len]
    return dict(input_ids=tf.ensure_shape(ids, shape),
                segment_ids=tf.ensure_shape(segments, shape),
                sentence_label=tf.ensure_shape(labels, [None]),
                position=positions_B)

  def mask(example):
    # Unique across hosts, whatever the host count.
    index = example.pop('position') * process_count + process_index
    return masker(example, index)

  ds = positions_ds.batch(batch_size).map(read_rows).unbatch()
  return ds.map(mask, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _deterministic(ds):
  options = tf_module().data.Options()
  options.deterministic = True
  return ds.with_options(options)
