"""Defaults every pretraining config starts from.

A config file calls `pretraining_config()`, changes what its recipe changes
and returns it. The dict is locked: assigning a key that doesn't exist, in a
file or with `--config.key=value`, is an error instead of a silent no-op.
"""
import os

import ml_collections

import data_pipelines
from data_pipelines import sources

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
  c.objective.share_embeddings = True  # False: the generator has its own
  # The masked-LM family ('mlm': BERT, ALBERT, SpanBERT; 'distillation').
  c.objective.examples = 'segments'  # instance builder: 'segments' (ELECTRA
  #   §1.9), 'pairs' (BERT/ALBERT NSP/SOP pairs §1.1), 'blocks' (SpanBERT §1.5)
  c.objective.sentence_task = 'none'  # 'nsp' | 'sop' | 'none' (needs pairs)
  c.objective.short_seq_prob = 0.1  # pairs/blocks: a shorter target length
  c.objective.dupe_factor = 1  # pairs: passes over the documents
  c.objective.masking = 'token'  # 'token' | 'whole_word' | 'ngram' | 'span'
  #   | 'smoothed' (DistilBERT: rare tokens favoured)
  c.objective.max_predictions = 0  # 0: int((mask_prob + 0.005) * seq_len)
  c.objective.random_token_prob = 0.0  # BERT 0.1 (80/10/10); ELECTRA 0
  c.objective.ngram_max = 3  # ALBERT n-gram masking, p(n) ~ 1/n
  c.objective.span_geometric_p = 0.2  # SpanBERT span lengths in words
  c.objective.span_lower = 1
  c.objective.span_upper = 10
  c.objective.sbo_weight = 0.0  # SpanBERT span-boundary objective, 1.0
  c.objective.sbo_max_targets = 15
  c.objective.sbo_position_size = 200
  # Distillation (§1.11): loss = kl * T^2 * KL + mlm * CE + cosine * (1-cos)
  # (+ TinyBERT's hidden / attention matching when their weights are > 0).
  c.objective.distill_temperature = 2.0
  c.objective.kl_weight = 5.0
  c.objective.mlm_weight = 2.0
  c.objective.cosine_weight = 1.0
  c.objective.hidden_weight = 0.0
  c.objective.attention_weight = 0.0
  c.objective.init_from_teacher = True  # student layers from every other one

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
  c.model.share_layers = 'none'  # ALBERT: 'all' | 'attention' | 'ffn'
  c.model.num_layer_groups = 1  # layer i uses group int(i * groups / layers)
  c.model.projection_init = 'glorot_uniform'  # E->H: 'truncated_normal' ALBERT
  # Decoders (GPT, objective.name='causal_lm'; set by causal_lm_config()).
  c.model.causal = False  # attend to earlier tokens only
  c.model.norm_position = 'post'  # 'pre': x + f(LN(x)) and a final LN (GPT-2)
  c.model.embedding_norm = True  # LayerNorm on the embeddings; GPT: False
  c.model.init_distribution = 'truncated_normal'  # GPT: 'normal'
  c.model.position_init_std = 0.0  # 0: init_std; GPT-2 0.01
  c.model.scale_residual_init = False  # GPT-2: output projections init_std/sqrt(2L)
  c.model.attention_impl = 'plain'  # 'xla' | 'cudnn': jax.nn.dot_product_attention
  #   (cuDNN flash attention on GPU) wherever no attention dropout is drawn
  c.model.head_dim = 0  # 0: hidden_size / num_heads

  c.data = ml_collections.ConfigDict()
  c.data.source = 'corpus'  # or 'synthetic': random ids, no TensorFlow needed
  c.data.train_files = DEFAULT_CORPUS  # comma-separated globs; .txt or .txt.gz
  c.data.tfds_name = ''  # if set, read this TFDS dataset instead of files
  c.data.tfds_split = 'train'
  c.data.tfds_text_key = 'text'
  c.data.tfds_data_dir = ''
  c.data.tokenizer = 'sentencepiece'  # or 'wordpiece' (a BERT vocab.txt), or
  #   'bpe' (GPT-2 byte-level: a tokenizer.json, or vocab.json + merges.txt)
  c.data.vocab_path = ''  # empty: train SentencePiece on train_files, cached
  c.data.vocab_size = 30522  # when building the vocabulary; synthetic ids
  c.data.lowercase = True  # wordpiece only
  # sentencepiece only: lower-case and strip accents first, as ALBERT's
  # released models (Hugging Face's do_lower_case, keep_accents=False).
  c.data.spm_lowercase = False
  c.data.seq_len = 128
  c.data.batch_size = 128  # global, over all hosts and devices
  c.data.seed = 0
  c.data.cache_dir = ''  # vocab + built examples; default $LM_JAX_CACHE or ~/.cache/lm_jax
  c.data.prefetch = 2
  # Held-out MLM evaluation every train.eval_every steps (fixed masks).
  c.data.eval_files = ''  # comma-separated globs; empty: no evaluation
  c.data.eval_batches = 0  # 0: the whole eval set
  # Undecodable bytes in a text file: 'strict' (error naming file and line),
  # 'replace' (U+FFFD) or 'skip_line'; affected lines are counted in the log.
  c.data.decode_errors = 'strict'

  c.optim = ml_collections.ConfigDict()
  c.optim.learning_rate = 5e-4
  c.optim.schedule = 'linear'  # 'linear' | 'polynomial' | 'cosine'
  c.optim.warmup_steps = 10_000
  c.optim.warmup = 'multiply'  # ELECTRA; 'replace' for BERT/ALBERT (§3.2)
  c.optim.decay_power = 1.0  # polynomial only
  c.optim.b1 = 0.9
  c.optim.b2 = 0.999
  c.optim.eps = 1e-6
  c.optim.bias_correction = False  # BERT/ELECTRA's Adam has none
  c.optim.weight_decay = 0.01  # not on LayerNorm parameters or biases
  c.optim.clip_norm = 1.0  # global norm; 0 disables
  c.optim.decay_all_params = False  # True: LayerNorm and biases too (SpanBERT)
  c.optim.trust_ratio = False  # LAMB's per-tensor ||w||/||update|| (ALBERT)
  c.optim.layer_decay = 1.0  # < 1: layer-wise lr decay (fine-tuning, §3.4)
  c.optim.min_lr_fraction = 0.0  # decay ends at this fraction (GPT-3: 0.1)

  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 1_000_000  # length of the run and of the LR schedule
  c.train.stop_at_step = 0  # stop early (and checkpoint) here; 0 = num_steps
  c.train.log_every = 100
  c.train.checkpoint_every = 1000
  c.train.keep_checkpoints = 3
  c.train.async_checkpoints = True
  c.train.seed = 0  # parameter init, dropout, generator sampling
  c.train.eval_every = 1000  # with data.eval_files

  # Distillation: the teacher's lm_jax workdir (its latest checkpoint).
  c.teacher_checkpoint = ''

  c.mesh = ml_collections.ConfigDict()
  c.mesh.data = 1  # -1: all devices not used by the other axes
  c.mesh.fsdp = -1
  c.mesh.tensor = 1
  c.mesh.rules = DEFAULT_RULES

  c.lock()
  return c


def finetuning_config() -> ml_collections.ConfigDict:
  """Defaults every fine-tuning config starts from (§2.7, §3.4).

  The model's shape, vocabulary and tokenizer are not here: they come from
  the pretraining workdir (`init_checkpoint`). `model` holds only what
  fine-tuning may change. Steps follow from epochs, the training set's size
  and the batch; warmup is a fraction of them.
  """
  c = ml_collections.ConfigDict()
  c.task = ''  # a task of the family, e.g. 'sst2', 'conll2003', 'squad'
  c.data_dir = ''  # the task's files in their official layout and names
  c.tfds_name = ''  # or a TFDS dataset (e.g. 'glue/sst2') instead of data_dir
  c.tfds_data_dir = ''
  c.init_checkpoint = ''  # a pretraining workdir (its latest checkpoint)
  c.num_seeds = 1  # > 1: one run per seed in WORKDIR/seed_<i>, median reported

  c.objective = ml_collections.ConfigDict()  # the head; name set by the task
  c.objective.name = ''
  c.objective.num_labels = 0  # set from the task
  c.objective.num_choices = 0  # multiple choice: set from the data
  c.objective.classifier_dropout = 0.1
  c.objective.use_pooler = True  # where pretraining trained one (NSP/SOP)
  c.objective.target_scale = 5.0  # regression: STS-B scores / 5 (ELECTRA)
  c.objective.double_unordered = True  # MRPC, STS-B: add (B, A) copies (ELECTRA)
  c.objective.n_best = 20  # SQuAD decoding: top start and end candidates
  c.objective.max_answer_length = 30  # in tokens
  c.objective.null_threshold = 0.0  # SQuAD 2.0: '' when null - best > this;
  #   the threshold that maximises dev F1 is reported as well
  c.objective.lm_coef = 0.5  # a causal body (GPT-1): + lm_coef * LM loss

  # Parameter-efficient fine-tuning (lm_jax/finetuning/peft.py, §1.12-1.13):
  # what trains besides the head. 'none' (everything), 'adapter', 'lora',
  # 'prefix'; the run's checkpoints then hold only those parameters.
  c.peft = 'none'
  # Pretrained parameters also kept fixed, comma-separated: 'embeddings',
  # 'layers:K' (the first K layers), 'body' (all: a linear probe).
  c.freeze = ''
  c.adapter = ml_collections.ConfigDict()
  c.adapter.size = 64  # Houlsby's bottleneck (the paper sweeps 8, 64, 256)
  c.lora = ml_collections.ConfigDict()
  c.lora.rank = 8
  c.lora.alpha = 16.0  # the update is scaled by alpha / rank
  c.lora.targets = 'query,value'  # of query, key, value, output (Hu et al.)
  c.prefix = ml_collections.ConfigDict()
  c.prefix.length = 5  # P keys and values per layer (Li & Liang's README)
  c.prefix.hidden = 512  # the reparameterisation MLP's width; 0: none

  c.model = ml_collections.ConfigDict()  # over the pretrained model's section
  c.model.dropout_rate = 0.1
  c.model.attention_dropout_rate = 0.1
  c.model.compute_dtype = 'float32'  # 'bfloat16' on TPU/GPU
  c.model.remat = 'none'

  c.data = ml_collections.ConfigDict()
  c.data.seq_len = 128
  c.data.batch_size = 32  # global
  c.data.eval_batch_size = 0  # 0: data.batch_size
  c.data.seed = 0  # shuffling; seed i of num_seeds adds i
  c.data.train_split = 'train'  # a split, or a slice of one: 'dev[:80%]'
  c.data.eval_split = 'dev'  # MNLI: 'dev' means matched and mismatched
  c.data.test_split = 'test'  # predicted when present ('' to skip)
  c.data.doc_stride = 128  # SQuAD windows
  c.data.max_query_length = 64
  c.data.skip_malformed = False  # True: count and report bad rows, don't stop
  c.data.max_eval_examples = 0  # 0: all

  c.optim = ml_collections.ConfigDict()
  c.optim.learning_rate = 0.0  # 0: the pretrained family's recipe by width
  #   (ELECTRA 3e-4 Small, 1e-4 Base, 5e-5 Large; BERT 5e-5, 1e-4 below Base);
  #   under PEFT the method's (adapter 3e-4, LoRA 5e-4, prefix 5e-5)
  c.optim.warmup_fraction = 0.1  # of the steps; then linear decay to 0
  c.optim.warmup_steps = 0  # derived from warmup_fraction
  c.optim.schedule = 'linear'
  c.optim.warmup = 'multiply'  # ELECTRA's; BERT's 'replace' differs little
  c.optim.decay_power = 1.0
  c.optim.b1 = 0.9
  c.optim.b2 = 0.999
  c.optim.eps = 1e-6
  c.optim.bias_correction = False
  c.optim.weight_decay = 0.01
  c.optim.clip_norm = 1.0
  c.optim.decay_all_params = False
  c.optim.trust_ratio = False
  c.optim.layer_decay = 0.0  # 0: the recipe's (ELECTRA 0.8, Large 0.9;
  #   BERT family and PEFT 1.0: no layer-wise decay)
  c.optim.min_lr_fraction = 0.0

  c.train = ml_collections.ConfigDict()
  c.train.num_epochs = 3.0
  c.train.num_steps = 0  # > 0 overrides num_epochs
  c.train.stop_at_step = 0
  c.train.log_every = 50
  c.train.eval_every = 0  # 0: once per epoch (and always at the end)
  c.train.checkpoint_every = 500
  c.train.keep_checkpoints = 1
  c.train.async_checkpoints = True
  c.train.seed = 0  # head init and dropout; seed i of num_seeds adds i

  c.mesh = ml_collections.ConfigDict()
  c.mesh.data = 1
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
  for key in ('log_every', 'checkpoint_every', 'keep_checkpoints',
              'eval_every'):
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
  if not config.model.head_dim and config.model.hidden_size % config.model.num_heads:
    problems.append(f'model.hidden_size {config.model.hidden_size} is not '
                    f'divisible by model.num_heads {config.model.num_heads}')
  for key in ('compute_dtype', 'param_dtype'):
    if config.model[key] not in ('float32', 'bfloat16', 'float16'):
      problems.append(f'model.{key} must be float32, bfloat16 or float16')
  if config.data.decode_errors not in sources.DECODE_ERRORS:
    problems.append(f'data.decode_errors must be one of '
                    f'{", ".join(sources.DECODE_ERRORS)}, got '
                    f'{config.data.decode_errors!r}')
  if problems:
    raise InputError('; '.join(problems))


def bert_pretraining_config() -> ml_collections.ConfigDict:
  """BERT's recipe (§1.1, §1.2, §3.3) at Base size; bert_small/base/large
  and the distillation teacher start here.

  Sentence pairs with NSP, MLM 15% with 80% [MASK] / 10% random / 10% kept
  per token, the prediction budget following the sequence length
  (max_predictions 0 = int((p + 0.005) L): 19 at 128, 79 at 512, so the
  128-then-512 recipe is a change of data.seq_len alone), batch 256, lr 1e-4
  with 10k warmup replaced by linear decay over 1M steps, Adam without bias
  correction (eps 1e-6, weight decay 0.01, clip 1.0: the defaults).
  """
  c = pretraining_config()
  c.objective.name = 'mlm'
  c.objective.examples = 'pairs'
  c.objective.sentence_task = 'nsp'
  c.objective.short_seq_prob = 0.1
  c.objective.masking = 'token'
  c.objective.mask_token_prob = 0.8
  c.objective.random_token_prob = 0.1
  c.objective.max_predictions = 0
  set_shape(c, hidden=768, layers=12)
  # Exact erf GELU as PyTorch/HF BERT (the TF release used the tanh
  # approximation: model.activation=gelu_tanh).
  c.model.activation = 'gelu'
  c.data.seq_len = 128
  c.data.batch_size = 256
  c.optim.learning_rate = 1e-4
  c.optim.warmup_steps = 10_000
  c.optim.warmup = 'replace'
  c.train.num_steps = 1_000_000
  return c


def set_shape(c, *, hidden: int, layers: int, embedding: int | None = None):
  """The BERT/ELECTRA body of a given width and depth (§2.2): heads H/64,
  FFN 4H, E = H unless given."""
  c.model.hidden_size = hidden
  c.model.num_layers = layers
  c.model.num_heads = max(1, hidden // 64)
  c.model.intermediate_size = 4 * hidden
  c.model.embedding_size = embedding or hidden


def set_tiny(c, *, embedding: int | None = None):
  """The `:tiny` variant every config offers: a 2-layer model that trains on
  the embedded corpus in well under a minute on 2 CPU cores, checkpointing
  several times on the way. Objective settings stay the config's own."""
  set_shape(c, hidden=64, layers=2, embedding=embedding)
  c.model.num_heads = 2
  c.data.vocab_size = 4000
  c.data.seq_len = 64
  c.data.batch_size = 32
  c.optim.learning_rate = 2e-3
  c.optim.warmup_steps = 30
  c.train.num_steps = 300
  c.train.log_every = 25
  c.train.checkpoint_every = 100
  c.train.eval_every = 100


def set_tiny_finetuning(c):
  """The `:tiny` variant of the fine-tuning configs, for `:tiny` pretrained
  models: short sequences, small batches, one epoch at a high rate."""
  c.data.seq_len = 64
  c.data.batch_size = 16
  c.optim.learning_rate = 1e-3
  c.optim.layer_decay = 1.0
  c.train.num_epochs = 1.0
  c.train.log_every = 20
  c.train.checkpoint_every = 200


def causal_lm_config() -> ml_collections.ConfigDict:
  """GPT-2's block and the GPT-3 paper's recipe at GPT-2 Small's shape
  (§1.10, §2.5; Brown et al. 2020 §2.1, Table 2.1, Appendix B).

  Pre-LN blocks with a final LayerNorm, learned positions initialised N(0,
  0.01), every other weight N(0, 0.02) and the residual output projections
  0.02/sqrt(2L), tanh GELU, LayerNorm eps 1e-5, dropout 0.1, tied output
  layer without bias. The documents packed into rows of data.seq_len tokens,
  each followed by one end-of-text token. Adam (0.9, 0.95, eps 1e-8, bias
  corrected), weight decay 0.1 (not on biases and gains), clip 1.0, linear
  warmup then cosine decay to 10% of the peak. GPT-2's own learning rates and
  schedule were not published; these are GPT-3's for the same shapes.
  """
  c = pretraining_config()
  c.objective.name = 'causal_lm'
  set_gpt_shape(c, hidden=768, layers=12, heads=12, context=1024)
  c.model.type_vocab_size = 0
  c.model.activation = 'gelu_tanh'
  c.model.layer_norm_eps = 1e-5
  c.model.causal = True
  c.model.norm_position = 'pre'
  c.model.embedding_norm = False
  c.model.init_distribution = 'normal'
  c.model.position_init_std = 0.01
  c.model.scale_residual_init = True
  c.data.tokenizer = 'bpe'
  c.data.vocab_size = 50257
  c.data.seq_len = 1024
  c.data.batch_size = 512
  c.optim.learning_rate = 6e-4
  c.optim.schedule = 'cosine'
  c.optim.min_lr_fraction = 0.1
  c.optim.warmup = 'replace'
  c.optim.warmup_steps = 2000
  c.optim.b2 = 0.95
  c.optim.eps = 1e-8
  c.optim.bias_correction = True
  c.optim.weight_decay = 0.1
  c.train.num_steps = 600_000
  return c


# GPT-2 sizes (§2.2): (hidden, layers, heads) and GPT-3's learning rate for
# the nearest shape (Brown et al. 2020, Table 2.1).
GPT2_SIZES = {
    'small': (768, 12, 12, 6e-4),
    'medium': (1024, 24, 16, 3e-4),
    'large': (1280, 36, 20, 2.5e-4),
    'xl': (1600, 48, 25, 2e-4),
}


def gpt2_config(size: str, variant: str, file: str) -> ml_collections.ConfigDict:
  """GPT-2 of a size in GPT2_SIZES; variant 'tiny' for the CPU smoke run."""
  c = causal_lm_config()
  if variant == 'tiny':
    set_tiny_causal_lm(c)
    return c
  if variant:
    raise unknown_variant(file, variant, 'tiny')
  hidden, layers, heads, learning_rate = GPT2_SIZES[size]
  set_gpt_shape(c, hidden=hidden, layers=layers, heads=heads, context=1024)
  c.optim.learning_rate = learning_rate
  return c


def set_gpt_shape(c, *, hidden: int, layers: int, heads: int, context: int):
  """A GPT body (§2.2 decoder table): FFN 4H, E = H, `context` positions."""
  c.model.hidden_size = hidden
  c.model.num_layers = layers
  c.model.num_heads = heads
  c.model.intermediate_size = 4 * hidden
  c.model.embedding_size = hidden
  c.model.max_positions = context


def set_tiny_causal_lm(c):
  """`:tiny` for the decoders: 2 layers of 64 on the embedded corpus with a
  small vocabulary, as `set_tiny` does for the encoders."""
  set_tiny(c)
  c.model.max_positions = 64
  c.data.vocab_size = 2000
  c.optim.warmup_steps = 30
  c.optim.learning_rate = 3e-3


def set_gpt1_finetuning(c):
  """GPT-1's fine-tuning recipe (§3.4): lr 6.25e-5 over 3 epochs of batch
  32, warmup over the first 0.2% then linear decay, Adam with bias
  correction (eps 1e-8), weight decay 0.01, classifier dropout 0.1, the
  auxiliary LM loss at 0.5, no layer-wise decay."""
  c.optim.learning_rate = 6.25e-5
  c.optim.warmup_fraction = 0.002
  c.optim.layer_decay = 1.0
  c.optim.bias_correction = True
  c.optim.eps = 1e-8
  c.optim.weight_decay = 0.01
  c.data.batch_size = 32
  c.train.num_epochs = 3.0
  c.objective.classifier_dropout = 0.1
  c.objective.lm_coef = 0.5
  c.objective.double_unordered = False


def unknown_variant(file: str, variant: str, known: str):
  return ValueError(f'unknown variant {variant!r} of {file}; known: {known}')
