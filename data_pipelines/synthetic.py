"""Random token batches with the shape and masking invariants of real ones.

For benchmarks and for machines without TensorFlow: numpy only. Rows are
`[CLS] tokens [SEP]` at full length; N = int((p + 0.005) L) distinct
positions per row, of which round(L p) are used; 85% of those become [MASK].
"""
import numpy as np

from data_pipelines.masking import max_predictions

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4  # the SentencePiece layout


def electra_batch(batch_size: int, seq_len: int, vocab_size: int,
                  mask_prob: float = 0.15, mask_token_prob: float = 0.85,
                  seed=0) -> dict:
  """One batch; `seed` is an int or a tuple of ints (e.g. (seed, step))."""
  rng = np.random.default_rng(seed)
  num_slots = max_predictions(mask_prob, seq_len)
  budget = max(1, min(num_slots, round(seq_len * mask_prob)))
  ids = rng.integers(MASK + 1, vocab_size, (batch_size, seq_len), dtype=np.int32)
  ids[:, 0], ids[:, -1] = CLS, SEP
  positions = np.stack([rng.choice(np.arange(1, seq_len - 1), num_slots,
                                   replace=False) for _ in range(batch_size)])
  weights = (np.arange(num_slots) < budget).astype(np.float32)[None].repeat(
      batch_size, 0)
  positions = np.where(weights > 0, positions, 0).astype(np.int32)
  labels = np.take_along_axis(ids, positions, 1) * (weights > 0)
  masked = ids.copy()
  to_mask = (weights > 0) & (rng.random(weights.shape) < mask_token_prob)
  rows = np.nonzero(to_mask)[0]
  masked[rows, positions[to_mask]] = MASK
  return dict(input_ids=ids, segment_ids=np.zeros_like(ids),
              input_mask=np.ones_like(ids), masked_input_ids=masked,
              masked_lm_positions=positions, masked_lm_ids=labels.astype(np.int32),
              masked_lm_weights=weights)
