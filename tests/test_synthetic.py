"""data_pipelines/synthetic.py: random batches keep the masker's invariants."""
import numpy as np

from data_pipelines import synthetic


def test_invariants():
  b = synthetic.electra_batch(8, 128, 1000, seed=3)
  assert b['masked_lm_positions'].shape == (8, 19)
  used = b['masked_lm_weights'] > 0
  assert (used.sum(1) == round(128 * 0.15)).all()
  pos = b['masked_lm_positions']
  assert ((pos[used] > 0) & (pos[used] < 127)).all()  # never [CLS]/[SEP]
  assert (pos[~used] == 0).all()
  for row in range(8):
    assert len(set(pos[row][used[row]])) == used[row].sum()
  labels = np.take_along_axis(b['input_ids'], pos, 1)
  np.testing.assert_array_equal(b['masked_lm_ids'][used], labels[used])
  changed = b['masked_input_ids'] != b['input_ids']
  assert (b['masked_input_ids'][changed] == synthetic.MASK).all()
  assert 0.7 < changed.sum() / used.sum() < 0.95  # about 85% [MASK]
