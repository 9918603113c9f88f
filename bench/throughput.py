"""Train-step throughput of a pretraining config, beside the PyTorch peer.

  python bench/throughput.py --config=configs/electra_small.py \
      [--batch_size=16 --seq_len=128] [--peer_python=PATH]

Times the jitted train step that `lm_jax.train` runs (same model, optimizer,
sharding and donation) on a synthetic batch, after compilation, and prints one
JSON line with tokens/s. With --peer_python (an interpreter with torch and
transformers), it then runs bench/peer_hf_electra.py on the same shape in the
same session and adds the peer's tokens/s and the ratio.
"""
import json
import os
import statistics
import subprocess
import sys
import time

from absl import app, flags
from ml_collections import config_flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file.')
_BATCH = flags.DEFINE_integer('batch_size', 16, 'Global batch.')
_SEQ = flags.DEFINE_integer('seq_len', 128, 'Tokens per example.')
_STEPS = flags.DEFINE_integer('steps', 10, 'Timed steps.')
_WARMUP = flags.DEFINE_integer('warmup', 3, 'Untimed steps after compiling.')
_PEER = flags.DEFINE_string('peer_python', '', 'Python with torch+transformers.')
flags.mark_flag_as_required('config')


def time_lm_jax(config) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  from lm_jax import sharding, training  # pylint: disable=g-import-not-at-top
  from lm_jax.objectives import get_objective  # pylint: disable=g-import-not-at-top

  config.data.batch_size, config.data.seq_len = _BATCH.value, _SEQ.value
  vocab_size = config.data.vocab_size
  mesh = sharding.make_mesh(config.mesh)
  rules = sharding.rules(config.mesh)
  with sharding.use(mesh, rules):
    objective = get_objective(config.objective.name)
    parts = training.build(config, objective, vocab_size, mesh, rules)
    state = parts.init(jax.random.key(0), {})
    batch = sharding.global_batch(
        objective.make_synthetic_batch(config, _BATCH.value, seed=0),
        parts.batch_sharding)
    start = time.perf_counter()
    state, metrics = parts.step(state, batch, {})
    jax.block_until_ready(metrics)
    compile_seconds = time.perf_counter() - start
    for _ in range(_WARMUP.value):
      state, metrics = parts.step(state, batch, {})
    jax.block_until_ready(metrics)
    times = []
    for _ in range(_STEPS.value):
      start = time.perf_counter()
      state, metrics = parts.step(state, batch, {})
      jax.block_until_ready(metrics)
      times.append(time.perf_counter() - start)
  seconds = statistics.median(times)
  return dict(framework='lm_jax', jax=jax.__version__,
              device=str(jax.devices()[0].device_kind),
              num_devices=jax.device_count(), params=parts.num_params,
              compile_seconds=round(compile_seconds, 2),
              step_seconds_median=round(seconds, 4),
              tokens_per_second=round(_BATCH.value * _SEQ.value / seconds, 1))


def main(argv):
  del argv
  config = _CONFIG.value
  result = dict(config=sys.argv[1].split('=', 1)[-1], batch=_BATCH.value,
                seq_len=_SEQ.value, lm_jax=time_lm_jax(config))
  if _PEER.value:
    peer = subprocess.run(
        [_PEER.value, os.path.join(os.path.dirname(__file__), 'peer_hf_electra.py'),
         f'--batch={_BATCH.value}', f'--seq_len={_SEQ.value}',
         f'--steps={_STEPS.value}', f'--warmup={_WARMUP.value}'],
        capture_output=True, text=True, check=True)
    result['peer'] = json.loads(peer.stdout.strip().splitlines()[-1])
    result['speedup_vs_peer'] = round(
        result['lm_jax']['tokens_per_second'] / result['peer']['tokens_per_second'], 2)
  print(json.dumps(result))


if __name__ == '__main__':
  app.run(main)
