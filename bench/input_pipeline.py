"""Throughput of the tf.data input pipeline on this host's CPU.

  python bench/input_pipeline.py --config=configs/electra_small.py [--batches=200]

Builds (or loads from the cache) the config's vocabulary and examples, then
times how fast `data_pipelines.pipeline.batches` yields masked batches and
prints one JSON line with batches/s and tokens/s: the ceiling the input side
puts on training speed per host.
"""
import json
import os
import sys
import time

from absl import app, flags
from ml_collections import config_flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file.')
_BATCHES = flags.DEFINE_integer('batches', 200, 'Timed batches.')
flags.mark_flag_as_required('config')


def main(argv):
  del argv
  from data_pipelines import inputs  # pylint: disable=g-import-not-at-top
  from lm_jax.objectives import get_objective  # pylint: disable=g-import-not-at-top
  config = _CONFIG.value
  objective = get_objective(config.objective.name)
  objective.check(config)
  # The trainer's own input: vocabulary, built examples, masker, tf.data.
  stream = inputs.training_input(config, objective, 0, 1,
                                 log=lambda line: None).batches(0)
  next(stream)  # graph construction and first fill, not timed
  start = time.perf_counter()
  for _ in range(_BATCHES.value):
    next(stream)
  seconds = time.perf_counter() - start
  batches_per_second = _BATCHES.value / seconds
  print(json.dumps(dict(
      config=sys.argv[1].split('=', 1)[-1], batch=config.data.batch_size,
      seq_len=config.data.seq_len, cpus=os.cpu_count(),
      batches_per_second=round(batches_per_second, 1),
      tokens_per_second=round(batches_per_second * config.data.batch_size
                              * config.data.seq_len))))


if __name__ == '__main__':
  app.run(main)
