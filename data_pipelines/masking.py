"""ELECTRA's token masker (algorithms.md §1.9), in TensorFlow for tf.data.

Each example is masked with stateless random ops seeded by (seed, example
index), so the masks of step k are the same after a restart and independent of
the batch size or the number of hosts.

Per example of length L with n real tokens:
  candidates: real tokens that are not [CLS], [SEP] or [MASK];
  N = int((mask_prob + 0.005) * L) prediction slots (19 at 0.15, 128);
  k = max(1, min(N, round_half_even(n * mask_prob))) positions, drawn uniformly
      *without* replacement (the clean form of the reference's draws with
      replacement, whose duplicates it then merges);
  85% of the chosen positions become [MASK], 15% keep their token; no random
  replacement. Unused slots point at position 0 with weight 0.
"""
from data_pipelines.tf_cpu import tf as tf_module


def max_predictions(mask_prob: float, seq_len: int) -> int:
  """N = int((p + 0.005) * L): 19 at (0.15, 128), 79 at (0.15, 512)."""
  return int((mask_prob + 0.005) * seq_len)


def electra_mask(example: dict, example_index, *, seed: int,
                 mask_prob: float, mask_token_prob: float, pad_id: int,
                 cls_id: int, sep_id: int, mask_id: int) -> dict:
  """Adds the generator input and MLM targets to one example.

  Args:
    example: {'input_ids': int32 [L], 'segment_ids': int32 [L]}.
    example_index: int64 scalar, the example's position in this host's stream.
    seed: the data seed.

  Returns:
    The example plus input_mask [L], masked_input_ids [L],
    masked_lm_positions [N], masked_lm_ids [N], masked_lm_weights [N] (f32).
  """
  tf = tf_module()
  ids_L = example['input_ids']
  seq_len = ids_L.shape[0]
  num_slots = max_predictions(mask_prob, seq_len)
  op_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(example_index, tf.int64)])
  position_seed, keep_seed = tf.unstack(
      tf.random.experimental.stateless_split(op_seed, num=2))

  input_mask_L = tf.cast(ids_L != pad_id, tf.int32)
  candidate_L = ((ids_L != pad_id) & (ids_L != cls_id) & (ids_L != sep_id)
                 & (ids_L != mask_id))
  num_tokens = tf.reduce_sum(input_mask_L)
  # tf.round rounds half to even, as the reference does.
  budget = tf.cast(tf.round(tf.cast(num_tokens, tf.float32) * mask_prob), tf.int32)
  budget = tf.maximum(1, tf.minimum(num_slots, budget))
  budget = tf.minimum(budget, tf.reduce_sum(tf.cast(candidate_L, tf.int32)))

  # A uniform sample without replacement: the top-k of random scores, with
  # non-candidates scored below every candidate.
  scores_L = tf.random.stateless_uniform([seq_len], seed=position_seed)
  scores_L = tf.where(candidate_L, scores_L, -1.0)
  _, top_N = tf.math.top_k(scores_L, k=num_slots)
  used_N = tf.range(num_slots) < budget
  positions_N = tf.where(used_N, top_N, 0)
  weights_N = tf.cast(used_N, tf.float32)
  labels_N = tf.where(used_N, tf.gather(ids_L, positions_N), 0)

  to_mask_N = used_N & (tf.random.stateless_uniform([num_slots], seed=keep_seed)
                        < mask_token_prob)
  masked_ids_L = tf.tensor_scatter_nd_update(
      ids_L, tf.boolean_mask(positions_N, to_mask_N)[:, None],
      tf.fill([tf.reduce_sum(tf.cast(to_mask_N, tf.int32))], mask_id))

  return dict(example, input_mask=input_mask_L, masked_input_ids=masked_ids_L,
              masked_lm_positions=positions_N, masked_lm_ids=labels_N,
              masked_lm_weights=weights_N)
