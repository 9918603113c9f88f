"""Fine-tuning entry point.

  python -m lm_jax.finetune --config=configs/finetune/glue.py \
      --config.task=sst2 --config.data_dir=glue_data/SST-2 \
      --config.init_checkpoint=runs/electra_small --workdir=runs/sst2

The model's shape, vocabulary and tokenizer come from the pretraining
workdir. Dev metrics go to WORKDIR/eval_results.json, dev predictions to
WORKDIR/predictions.*, the best checkpoint by the task's main metric to
WORKDIR/best. Re-running with the same workdir resumes; bad input ends with
one `error: ...` line and exit status 2.
"""
from absl import app, flags
from ml_collections import config_flags

from data_pipelines.cache import cache_root
from lm_jax.cli import fail, loaded_config, parse_flags, start_jax
from lm_jax.errors import InputError

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'configs/finetune/FAMILY.py[:variant]', lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Checkpoints, metrics, '
                               'predictions and eval_results.json.')
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', False, 'Call jax.distributed.initialize() first.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  del argv
  config = loaded_config(_CONFIG)
  start_jax(_DISTRIBUTED.value, cache_root(''))
  from lm_jax.finetuning import runner  # pylint: disable=g-import-not-at-top
  try:
    runner.run(config, _WORKDIR.value)
  except InputError as e:
    fail(str(e))


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
