"""Held-out evaluation of a pretrained workdir.

  python -m lm_jax.evaluate --workdir=runs/NAME --data='heldout/*.txt'

Reads the model, objective and vocabulary from the workdir's latest
checkpoint, builds examples from the text files as training would, masks them
with a fixed seed (the same masks every run, for every model with the same
objective settings), and reports MLM loss, accuracy and pseudo-perplexity
(exp of the MLM loss), plus each further head's figures (NSP/SOP, SBO, and
for ELECTRA the discriminator's accuracy and ROC AUC on replaced tokens).
The figures go to stdout and to WORKDIR/eval_results.json (a flat object).
"""
import os

import jax
import ml_collections
from absl import app, flags, logging

from data_pipelines import inputs, vocabulary
from data_pipelines.tasks import files
from lm_jax import evaluation, sharding, training
from lm_jax.checkpointing import RESULTS, open_workdir, vocabulary_path
from lm_jax.cli import fail, parse_flags
from lm_jax.errors import InputError
from lm_jax.objectives import get_objective

_WORKDIR = flags.DEFINE_string('workdir', None, 'A pretraining workdir.')
_DATA = flags.DEFINE_string('data', None, 'Comma-separated globs of held-out '
                            '.txt/.txt.gz files (blank line between documents).')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 0, 'Global eval batch; 0: '
                                   'the run\'s data.batch_size.')
_MAX_BATCHES = flags.DEFINE_integer('max_batches', 0, '0: the whole set.')
flags.mark_flags_as_required(['workdir', 'data'])


def evaluate(workdir: str, data: str, *, batch_size: int = 0,
             max_batches: int = 0, print_fn=print) -> dict:
  """Evaluates the workdir's latest checkpoint on `data`; returns the
  figures and writes them to WORKDIR/eval_results.json."""
  checkpointer, step, meta = open_workdir(workdir)
  try:
    config = ml_collections.ConfigDict(meta['config'])
    config.data.vocab_path = vocabulary_path(workdir, meta)
    config.data.eval_batches = max_batches
    if batch_size:
      config.data.batch_size = batch_size
    # Whatever devices are here: the batch over all of them, FSDP.
    config.mesh.data, config.mesh.fsdp, config.mesh.tensor = 1, -1, 1
    objective = get_objective(config.objective.name)
    num_hosts, host = jax.process_count(), jax.process_index()
    mesh = sharding.make_mesh(config.mesh)
    sharding.check_batch(config.data.batch_size, mesh, num_hosts)
    rules = sharding.rules(config.mesh)

    tokenizer, vocab_id, _ = vocabulary.load_or_build_tokenizer(
        config.data, num_hosts, log=print_fn)
    if vocab_id != meta['vocab_id']:
      raise InputError(f'{config.data.vocab_path} is not the vocabulary the '
                       'checkpoint was trained with')
    num_examples, batches = inputs.eval_input(
        config, objective, tokenizer, vocab_id, data, host, num_hosts,
        log=print_fn)
    with sharding.use(mesh, rules):
      run_parts = training.build(config, objective, tokenizer.vocab_size, mesh,
                                 rules)
      params = checkpointer.restore_params(
          step, run_parts.restore_target().params)
      results = evaluation.run(run_parts, params, batches)
  finally:
    checkpointer.close()
  results = {'step': step, 'examples': num_examples, **results}
  print_fn(f'Evaluated step {step} on {num_examples:,} examples:')
  for name, value in results.items():
    print_fn(f'  {name}: {value:.6g}' if isinstance(value, float)
             else f'  {name}: {value}')
  if jax.process_index() == 0:
    files.write_json(os.path.join(workdir, RESULTS), results)
  return results


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  try:
    evaluate(_WORKDIR.value, _DATA.value, batch_size=_BATCH_SIZE.value,
             max_batches=_MAX_BATCHES.value)
  except InputError as e:
    fail(str(e))


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
