"""Defaults every pretraining config starts from.

A config file calls `pretraining_config()`, changes what its recipe changes
and returns it. The dict is locked: assigning a key that doesn't exist, in a
file or with `--config.key=value`, is an error instead of a silent no-op.
"""
import os

import ml_collections

import data_pipelines

DEFAULT_CORPUS = os.path.join(os.path.dirname(data_pipelines.__file__),
                              'default_corpus', 'gutenberg_sample.txt.gz')

# Logical axis -> mesh axes. FSDP by default: parameters are split along
# 'embed' over 'fsdp', the batch over ('data', 'fsdp'). Tensor parallelism is
# a mesh change (mesh.tensor > 1): heads, mlp and vocab go over 'tensor'.
DEFAULT_RULES = (
    ('batch', ('data', 'fsdp')),
    ('length', None),
    ('embed', 'fsdp'),
    ('vocab', 'tensor'),
    ('heads', 'tensor'),
    ('mlp', 'tensor'),
    ('kv', None),
    ('layers', None),
    ('act_embed', None),
    ('act_heads', 'tensor'),
    ('act_mlp', 'tensor'),
    ('act_vocab', 'tensor'),
)


def pretraining_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()

  c.objective = ml_collections.ConfigDict()
  c.objective.name = 'electra'  # a key of lm_jax.objectives.OBJECTIVES
  c.objective.mask_prob = 0.15
  c.objective.mask_token_prob = 0.85  # rest keep their token (no random ids)
  c.objective.generator_hidden_fraction = 0.25  # paper; 1.0 = released Small
  c.objective.generator_layer_fraction = 1.0
  c.objective.generator_weight = 1.0
  c.objective.discriminator_weight = 50.0
  c.objective.temperature = 1.0  # generator sampling

  c.model = ml_collections.ConfigDict()  # the discriminator / main encoder
  c.model.hidden_size = 256
  c.model.num_layers = 12
  c.model.num_heads = 4
  c.model.intermediate_size = 1024
  c.model.embedding_size = 128  # E < hidden adds an E->H projection
  c.model.max_positions = 512
  c.model.type_vocab_size = 2
  c.model.dropout_rate = 0.1
  c.model.attention_dropout_rate = 0.1
  c.model.activation = 'gelu'  # exact erf; 'gelu_tanh' for BERT/ALBERT TF
  c.model.layer_norm_eps = 1e-12
  c.model.init_std = 0.02
  c.model.compute_dtype = 'float32'  # 'bfloat16' on TPU/GPU
  c.model.param_dtype = 'float32'  # master weights stay f32
  c.model.remat = 'none'  # 'none' | 'full' | 'dots'

  c.data = ml_collections.ConfigDict()
  c.data.source = 'corpus'  # or 'synthetic': random ids, no TensorFlow needed
  c.data.train_files = DEFAULT_CORPUS  # comma-separated globs; .txt or .txt.gz
  c.data.tfds_name = ''  # if set, read this TFDS dataset instead of files
  c.data.tfds_split = 'train'
  c.data.tfds_text_key = 'text'
  c.data.tfds_data_dir = ''
  c.data.tokenizer = 'sentencepiece'  # or 'wordpiece' (a BERT vocab.txt)
  c.data.vocab_path = ''  # empty: train SentencePiece on train_files, cached
  c.data.vocab_size = 30522  # when building the vocabulary; synthetic ids
  c.data.lowercase = True  # wordpiece only
  c.data.seq_len = 128
  c.data.batch_size = 128  # global, over all hosts and devices
  c.data.seed = 0
  c.data.cache_dir = ''  # vocab + built examples; default $LM_JAX_CACHE or ~/.cache/lm_jax
  c.data.prefetch = 2

  c.optim = ml_collections.ConfigDict()
  c.optim.learning_rate = 5e-4
  c.optim.schedule = 'linear'  # 'linear' | 'polynomial' | 'cosine'
  c.optim.warmup_steps = 10_000
  c.optim.decay_power = 1.0  # polynomial only
  c.optim.b1 = 0.9
  c.optim.b2 = 0.999
  c.optim.eps = 1e-6
  c.optim.bias_correction = False  # BERT/ELECTRA's Adam has none
  c.optim.weight_decay = 0.01  # not on LayerNorm parameters or biases
  c.optim.clip_norm = 1.0  # global norm; 0 disables

  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 1_000_000  # length of the run and of the LR schedule
  c.train.stop_at_step = 0  # stop early (and checkpoint) here; 0 = num_steps
  c.train.log_every = 100
  c.train.checkpoint_every = 1000
  c.train.keep_checkpoints = 3
  c.train.async_checkpoints = True
  c.train.seed = 0  # parameter init, dropout, generator sampling

  c.mesh = ml_collections.ConfigDict()
  c.mesh.data = 1  # -1: all devices not used by the other axes
  c.mesh.fsdp = -1
  c.mesh.tensor = 1
  c.mesh.rules = DEFAULT_RULES

  c.lock()
  return c


def check(config) -> None:
  """Value checks that a locked ConfigDict can't express."""
  from lm_jax.errors import InputError  # pylint: disable=g-import-not-at-top
  problems = []
  if config.train.num_steps <= 0:
    problems.append(f'train.num_steps must be positive, got {config.train.num_steps}')
  if config.train.stop_at_step < 0:
    problems.append('train.stop_at_step must be >= 0')
  for key in ('log_every', 'checkpoint_every', 'keep_checkpoints'):
    if config.train[key] <= 0:
      problems.append(f'train.{key} must be positive, got {config.train[key]}')
  if config.data.seed < 0 or config.train.seed < 0:
    problems.append('data.seed and train.seed must be >= 0')
  if config.data.batch_size <= 0:
    problems.append(f'data.batch_size must be positive, got {config.data.batch_size}')
  if not 5 <= config.data.seq_len <= config.model.max_positions:
    problems.append(f'data.seq_len {config.data.seq_len} must be in [5, '
                    f'model.max_positions={config.model.max_positions}]')
  if not 0 < config.objective.mask_prob < 1:
    problems.append(f'objective.mask_prob must be in (0, 1), got {config.objective.mask_prob}')
  if config.model.hidden_size % config.model.num_heads:
    problems.append(f'model.hidden_size {config.model.hidden_size} is not '
                    f'divisible by model.num_heads {config.model.num_heads}')
  for key in ('compute_dtype', 'param_dtype'):
    if config.model[key] not in ('float32', 'bfloat16', 'float16'):
      problems.append(f'model.{key} must be float32, bfloat16 or float16')
  if problems:
    raise InputError('; '.join(problems))
