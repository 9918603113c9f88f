"""Held-out evaluation of a pretraining workdir.

  python -m lm_jax.evaluate --workdir=runs/NAME --data='heldout/*.txt'
  python -m lm_jax.evaluate --workdir=runs/gpt2 --data=wiki.valid.raw
      [--context=1024 --stride=512]
  python -m lm_jax.evaluate --workdir=runs/gpt2 --task=bleu --data=pairs.jsonl
      [--max_new_tokens=32 --truncate]

Reads the model, objective and vocabulary from the workdir's latest
checkpoint. What it reports depends on the objective:

An encoder (ELECTRA, the BERT family): builds examples from the text files
as training would, masks them with a fixed seed (the same masks every run,
for every model with the same objective settings), and reports MLM loss,
accuracy and pseudo-perplexity (exp of the MLM loss), plus each further
head's figures (NSP/SOP, SBO, and for ELECTRA the discriminator's accuracy
and ROC AUC on replaced tokens).

A causal LM (objective causal_lm): each file is one text, scored with a
sliding window of --context tokens (default the model's context) moved by
--stride (default half the context); reports the tokens scored, the mean
NLL (`loss`, nats per token), perplexity, bits per byte and the window
settings. `lm_jax/perplexity.py` defines the text, the windows and the bytes.

--task=bleu (causal LMs): continues each prompt of a JSON-lines file of
{"prompt", "reference" or "references"} greedily and reports sacreBLEU's
corpus BLEU and its signature (`lm_jax/bleu.py`); the generations go to
WORKDIR/bleu_predictions.jsonl.

The figures go to stdout and to WORKDIR/eval_results.json (a flat object).
"""
import json
import os

import jax
from absl import app, flags, logging

from data_pipelines import inputs
from data_pipelines.tasks import files
from lm_jax import bleu, evaluation, perplexity, sharding
from lm_jax.checkpointing import RESULTS
from lm_jax.cli import fail, parse_flags
from lm_jax.errors import InputError
from lm_jax.objectives import get_objective
from lm_jax.trained_lm import CAUSAL_OBJECTIVE, TrainedLM, open_trained

BLEU_PREDICTIONS = 'bleu_predictions.jsonl'

_WORKDIR = flags.DEFINE_string('workdir', None, 'A pretraining workdir.')
_DATA = flags.DEFINE_string(
    'data', None, 'Comma-separated globs of held-out .txt/.txt.gz files '
    '(blank line between documents; for a causal LM each file is one text), '
    'or with --task=bleu of .jsonl files.')
_TASK = flags.DEFINE_enum(
    'task', 'lm', ['lm', 'bleu'], 'lm: the objective\'s own figures (masked '
    'LM, or a causal LM\'s perplexity); bleu: corpus BLEU of a causal LM\'s '
    'continuations.')
_BATCH_SIZE = flags.DEFINE_integer(
    'batch_size', 0, 'Global eval batch; 0: the run\'s data.batch_size '
    '(masked LM), 8 windows rounded up to a multiple of the devices '
    '(perplexity), 32 prompts (bleu).')
_MAX_BATCHES = flags.DEFINE_integer('max_batches', 0, 'Masked LM only; 0: '
                                    'the whole set.')
_CONTEXT = flags.DEFINE_integer('context', 0, 'Causal LM: tokens per window; '
                                '0: the model\'s max_positions.')
_STRIDE = flags.DEFINE_integer('stride', 0, 'Causal LM: window start to '
                               'window start, in [1, context]; 0: context//2.')
_MAX_NEW_TOKENS = flags.DEFINE_integer(
    'max_new_tokens', bleu.DEFAULT_MAX_NEW_TOKENS, 'bleu: tokens generated per '
    'prompt at most.')
_TRUNCATE = flags.DEFINE_bool('truncate', False, 'bleu: keep the end of a '
                              'prompt too long for the context.')
flags.mark_flags_as_required(['workdir', 'data'])


def evaluate(workdir: str, data: str, *, task: str = 'lm',
             batch_size: int = 0, max_batches: int = 0, context: int = 0,
             stride: int = 0,
             max_new_tokens: int = bleu.DEFAULT_MAX_NEW_TOKENS,
             truncate: bool = False, print_fn=print) -> dict:
  """Evaluates the workdir's latest checkpoint on `data`; returns the
  figures and writes them to WORKDIR/eval_results.json (see the module
  docstring for what each objective and task reports)."""
  lm = open_trained(workdir, CAUSAL_OBJECTIVE if task == 'bleu' else None)
  step, name = lm.step, lm.config.objective.name
  causal = name == CAUSAL_OBJECTIVE
  if causal and max_batches:
    raise InputError('--max_batches applies to masked-LM evaluation; a '
                     'causal LM scores every token of --data')
  if not causal and (context or stride):
    raise InputError(f'--context and --stride apply to causal LMs; the '
                     f'model of {workdir} is {name}')
  if not causal:
    results, count = _masked_lm(lm, data, batch_size, max_batches, print_fn)
  elif task == 'bleu':
    results, rows = bleu.evaluate(lm, data, max_new_tokens=max_new_tokens,
                                  truncate=truncate, batch_size=batch_size)
    count = f'{results["examples"]:,} prompts'
    if jax.process_index() == 0:
      files.write_text(os.path.join(workdir, BLEU_PREDICTIONS), ''.join(
          json.dumps(row, ensure_ascii=False) + '\n' for row in rows))
  else:
    results = perplexity.evaluate(lm, data, context=context, stride=stride,
                                  batch_size=batch_size, log=print_fn)
    count = f'{results["tokens"]:,} tokens'
  print_fn(f'Evaluated step {step} on {count}:')
  for key, value in results.items():
    print_fn(f'  {key}: {value:.6g}' if isinstance(value, float)
             else f'  {key}: {value}')
  if jax.process_index() == 0:
    files.write_json(os.path.join(workdir, RESULTS), results)
  return results


def _masked_lm(lm: TrainedLM, data, batch_size, max_batches, print_fn
               ) -> tuple[dict, str]:
  """An encoder's figures on fixed masks, and what they count."""
  config = lm.config
  config.data.eval_batches = max_batches
  if batch_size:
    config.data.batch_size = batch_size
  num_hosts, host = jax.process_count(), jax.process_index()
  sharding.check_batch(config.data.batch_size, lm.mesh, num_hosts)
  num_examples, batches = inputs.eval_input(
      config, get_objective(config.objective.name), lm.tokenizer, lm.vocab_id,
      data, host, num_hosts, log=print_fn)
  with sharding.use(lm.mesh, lm.rules):
    results = evaluation.run(lm.run_parts, lm.params, batches)
  return ({'step': lm.step, 'examples': num_examples, **results},
          f'{num_examples:,} examples')


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  try:
    evaluate(_WORKDIR.value, _DATA.value, task=_TASK.value,
             batch_size=_BATCH_SIZE.value, max_batches=_MAX_BATCHES.value,
             context=_CONTEXT.value, stride=_STRIDE.value,
             max_new_tokens=_MAX_NEW_TOKENS.value, truncate=_TRUNCATE.value)
  except InputError as e:
    fail(str(e))


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
