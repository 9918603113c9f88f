"""lm_jax/finetuning/batches.py: step k's batch is a pure function of
(seed, k); every row once per epoch; hosts split each global batch; eval
passes keep the row order and pad with weight-0 rows."""
import itertools

import numpy as np

from lm_jax.finetuning import batches


def arrays(n=10):
  return {'ids': np.arange(n * 3).reshape(n, 3), 'label': np.arange(n)}


def take(iterator, k):
  return list(itertools.islice(iterator, k))


def test_resumed_stream_equals_the_uninterrupted_one():
  straight = take(batches.train_batches(arrays(), batch_size=4, seed=3,
                                        start_step=0), 7)
  resumed = take(batches.train_batches(arrays(), batch_size=4, seed=3,
                                       start_step=5), 2)
  for a, b in zip(straight[5:], resumed):
    np.testing.assert_array_equal(a['label'], b['label'])
    np.testing.assert_array_equal(a['ids'], b['ids'])


def test_each_epoch_is_a_permutation_and_epochs_differ():
  got = take(batches.train_batches(arrays(), batch_size=5, seed=0,
                                   start_step=0), 4)
  labels = np.concatenate([b['label'] for b in got])
  assert sorted(labels[:10]) == list(range(10))
  assert sorted(labels[10:]) == list(range(10))
  assert list(labels[:10]) != list(labels[10:])
  assert all((b['weight'] == 1).all() for b in got)
  other_seed = take(batches.train_batches(arrays(), batch_size=5, seed=1,
                                          start_step=0), 2)
  assert list(np.concatenate([b['label'] for b in other_seed])) != list(
      labels[:10])


def test_hosts_split_the_global_batch():
  whole = take(batches.train_batches(arrays(), batch_size=4, seed=2,
                                     start_step=0), 3)
  parts = [take(batches.train_batches(arrays(), batch_size=4, seed=2,
                                      start_step=0, process_index=h,
                                      process_count=2), 3) for h in range(2)]
  for step in range(3):
    np.testing.assert_array_equal(
        np.concatenate([parts[0][step]['label'], parts[1][step]['label']]),
        whole[step]['label'])


def test_eval_pass_keeps_order_and_pads_with_zero_weight():
  got = list(batches.eval_batches(arrays(10), batch_size=4))
  assert len(got) == 3
  weight = np.concatenate([b['weight'] for b in got])
  labels = np.concatenate([b['label'] for b in got])
  assert list(weight) == [1] * 10 + [0] * 2
  assert list(labels[weight > 0]) == list(range(10))
  hosts = [list(batches.eval_batches(arrays(10), batch_size=4,
                                     process_index=h, process_count=2))
           for h in range(2)]
  for i, batch in enumerate(got):
    np.testing.assert_array_equal(
        np.concatenate([hosts[0][i]['weight'], hosts[1][i]['weight']]),
        batch['weight'])
