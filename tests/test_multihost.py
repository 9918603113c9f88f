"""Two processes on one machine act as two hosts (CPU collectives): each
reads its own shard, and their local batches form one global batch."""
import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np

from data_pipelines.spm_training import train_sentencepiece
from data_pipelines.example_store import ExampleStore
from lm_jax.config_base import DEFAULT_CORPUS
from tests.conftest import REPO

HOST_SCRIPT = textwrap.dedent('''
    import sys
    import jax
    jax.config.update('jax_num_cpu_devices', 4)
    jax.distributed.initialize(sys.argv[1], num_processes=2,
                               process_id=int(sys.argv[2]))
    import importlib.util
    spec = importlib.util.spec_from_file_location('cfg', 'configs/electra_small.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config('tiny')
    c.model.hidden_size, c.model.num_heads = 32, 2
    c.model.intermediate_size, c.model.embedding_size = 64, 16
    c.data.seq_len, c.data.batch_size = 32, 16
    c.data.vocab_path = sys.argv[3]
    c.mesh.data, c.mesh.fsdp = 2, 4
    c.train.num_steps, c.train.log_every, c.train.checkpoint_every = 4, 2, 2
    c.train.async_checkpoints = False
    from lm_jax import trainer
    metrics = trainer.run(c, sys.argv[4], print_fn=lambda line: None)
    print('LOSS', jax.process_index(), metrics['loss'])
    jax.distributed.shutdown()
''')


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def test_two_hosts_train_one_model(tmp_path):
  vocab = train_sentencepiece([DEFAULT_CORPUS], str(tmp_path / 'spm.model'), 600)
  env = dict(os.environ, PYTHONPATH=REPO, LM_JAX_CACHE=str(tmp_path / 'cache'))
  env.pop('XLA_FLAGS', None)
  address = f'127.0.0.1:{free_port()}'
  hosts = [subprocess.Popen(
      [sys.executable, '-c', HOST_SCRIPT, address, str(i), vocab,
       str(tmp_path / 'run')], cwd=REPO, env=env, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True) for i in range(2)]
  outputs = [h.communicate(timeout=300) for h in hosts]
  for host, (out, err) in zip(hosts, outputs):
    assert host.returncode == 0, err[-3000:]
  losses = [float(line.split()[2]) for out, _ in outputs
            for line in out.splitlines() if line.startswith('LOSS')]
  assert len(losses) == 2 and losses[0] == losses[1]  # one global step

  with open(tmp_path / 'run' / 'metrics.jsonl') as f:
    assert [json.loads(line)['step'] for line in f] == [2, 4]  # host 0 writes
  assert sorted(os.listdir(tmp_path / 'run' / 'checkpoints'))[:2] == ['2', '4']

  # Each host built its own examples from its half of the documents.
  stores = [ExampleStore(str(tmp_path / 'cache' / 'examples' / key))
            for key in os.listdir(tmp_path / 'cache' / 'examples')]
  assert len(stores) == 2
  first = [store.gather(np.arange(8))[0] for store in stores]
  assert not np.array_equal(first[0], first[1])
