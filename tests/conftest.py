"""Tests run on the CPU backend with 8 simulated devices, so meshes such as
data=2 x fsdp=2 x tensor=2 compile and run as they would on 8 chips."""
import importlib
import os
import sys

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=8')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# TensorFlow's libraries break a later import of triton, which a CUDA build of
# PyTorch loads when transformers' models are imported (the parity tests):
# import it before anything loads TensorFlow, where it is installed.
try:
  importlib.import_module('triton')
except ImportError:
  pass

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

jax.config.update('jax_num_cpu_devices', 8)
# Runs of one config in several tests (and a resumed run) compile once.
jax.config.update('jax_compilation_cache_dir',
                  os.path.join(os.environ.get('TMPDIR', '/tmp'),
                               f'lm_jax_test_xla_{os.getpid()}'))
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
  """Vocabularies and built examples go to one cache shared by the session."""
  monkeypatch.setenv('LM_JAX_CACHE', str(tmp_path_factory.getbasetemp() / 'cache'))


def assert_one_line(error, *wheres: str) -> str:
  """An InputError's message is one line naming each of `wheres` (a file,
  a line, a key); returns the message."""
  message = str(error.value)
  assert '\n' not in message, message
  for where in wheres:
    assert where in message, (where, message)
  return message


# Document d's token ids start at DOC_STRIDE * (d + 1) and count up, so a
# token says which document it came from and where.
DOC_STRIDE = 100_000


def numbered_documents(seed: int, num_documents: int, sentence_lengths):
  """Documents of sentences of distinct, increasing ids; `sentence_lengths`
  (a numpy Generator) gives one document's sentence lengths."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  documents = []
  for d in range(num_documents):
    next_id = DOC_STRIDE * (d + 1)
    document = []
    for length in sentence_lengths(rng):
      document.append(list(range(next_id, next_id + length)))
      next_id += length
    documents.append(document)
  return documents


class FakeTokenizer:
  """Reads each line as space-separated token ids."""
  vocab_size = 1000
  pad_id, cls_id, sep_id, mask_id, unk_id = 0, 1, 2, 3, 4

  def encode(self, text: str) -> list[int]:
    return [int(t) for t in text.split()]


def load_config(variant: str = ''):
  """configs/electra_small.py[:variant], as the command line would load it."""
  return load_named_config('electra_small', variant)


@pytest.fixture
def micro_config():
  """The tiny variant made smaller still: a few seconds per run on 2 cores."""
  c = load_config('tiny')
  c.model.hidden_size = 32
  c.model.num_heads = 2
  c.model.intermediate_size = 64
  c.model.embedding_size = 16
  c.data.vocab_size = 1000
  c.data.seq_len = 32
  c.data.batch_size = 16
  c.optim.warmup_steps = 5
  c.train.num_steps = 12
  c.train.log_every = 2
  c.train.checkpoint_every = 4
  c.train.async_checkpoints = False
  return c


def load_named_config(name: str, variant: str = ''):
  """configs/<name>.py[:variant], as the command line would load it."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location(
      name, os.path.join(REPO, 'configs', f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(variant)


# Steps of the `:tiny` runs the learning and evaluation tests share.
TINY_STEPS = 60


@pytest.fixture(scope='session')
def tiny_runs(tmp_path_factory):
  """name -> workdir of configs/<name>.py:tiny trained for TINY_STEPS on the
  embedded corpus, trained on first request (the teacher of `distilbert` is
  the `bert_base` run). `electra_small`, the default model, runs exactly as
  shipped (its own steps, logging and checkpoints)."""
  from lm_jax import trainer  # pylint: disable=g-import-not-at-top
  runs = {}

  def get(name: str) -> str:
    if name not in runs:
      config = load_named_config(name, 'tiny')
      if name != 'electra_small':
        config.train.num_steps = TINY_STEPS
        config.train.log_every = 10
        config.train.checkpoint_every = TINY_STEPS
        config.train.async_checkpoints = False
      if name == 'distilbert':
        config.teacher_checkpoint = get('bert_base')
      workdir = str(tmp_path_factory.mktemp(f'tiny_{name}'))
      trainer.run(config, workdir, print_fn=lambda line: None)
      runs[name] = workdir
    return runs[name]

  return get


# task -> (configs/finetune/<family>.py, its folder under tests/data/tasks)
FINETUNED_TASKS = {'sst2': ('glue', 'glue/SST-2'),
                   'conll2003': ('conll2003', 'conll2003'),
                   'squad': ('squad', 'squad')}
FINETUNED_EVAL_EXAMPLES = 16


@pytest.fixture(scope='session')
def finetuned_runs(tiny_runs, tmp_path_factory):
  """task -> workdir of `configs/finetune/<family>.py:tiny` fine-tuned from
  the `electra_small` tiny run for 6 steps on the test slices, evaluated
  once at the end (so best/ holds the parameters of its predictions file)
  on the first FINETUNED_EVAL_EXAMPLES dev examples, test splits predicted
  where present; run on first request."""
  from lm_jax.finetuning import runner  # pylint: disable=g-import-not-at-top
  runs = {}

  def get(task: str) -> str:
    if task not in runs:
      family, data = FINETUNED_TASKS[task]
      config = load_named_config(os.path.join('finetune', family), 'tiny')
      config.task = task
      config.init_checkpoint = tiny_runs('electra_small')
      config.data_dir = os.path.join(REPO, 'tests', 'data', 'tasks', data)
      config.data.max_eval_examples = FINETUNED_EVAL_EXAMPLES
      config.train.num_steps = config.train.eval_every = 6
      config.train.async_checkpoints = False
      workdir = str(tmp_path_factory.mktemp(f'finetuned_{task}'))
      runner.run(config, workdir, print_fn=lambda line: None)
      runs[task] = workdir
    return runs[task]

  return get
