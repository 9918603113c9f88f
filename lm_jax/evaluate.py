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

--task=piqa, --task=sst2 (causal LMs): zero- or few-shot multiple choice
by the log-likelihood of each choice given the prompt (`lm_jax/in_context.py`
defines the prompts). --data is the task's folder: PIQA's valid.jsonl and
valid-labels.lst, or GLUE SST-2's dev.tsv (or a GLUE folder holding
SST-2/), with train.jsonl/train-labels.lst or train.tsv for demonstrations
when present (else the other evaluated questions give them). Reports
accuracy_sum (the choice of highest summed log-likelihood), accuracy_mean
(highest mean per token), num_examples, shots and the majority-class and
chance baselines, and how many demonstrations were dropped and prompts cut
to fit the context.

  python -m lm_jax.evaluate --task=piqa --workdir=runs/gpt2 --data=piqa/
      [--shots=5 --seed=0 --max_examples=500]

--task=stsb (any pretraining workdir: ELECTRA, the BERT family, or a causal
LM's decoder): sentence embeddings without training, the mean of the final
hidden states over each sentence's tokens; reports the Spearman (and
Pearson) correlation of the pairs' cosine similarities with the gold scores
of STS-B's dev.tsv (`lm_jax/sentence_embeddings.py`).

  python -m lm_jax.evaluate --task=stsb --workdir=runs/electra --data=STS-B/

The figures go to stdout and to WORKDIR/eval_results.json (a flat object).
"""
import json
import os

import jax
from absl import app, flags, logging

from data_pipelines import inputs
from data_pipelines.tasks import files
from lm_jax import (bleu, evaluation, in_context, perplexity,
                    sentence_embeddings, sharding)
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
    'with --task=bleu of .jsonl files, with --task=piqa/sst2/stsb the '
    'task\'s folder.')
_TASK = flags.DEFINE_enum(
    'task', 'lm', ['lm', 'bleu', *in_context.TASKS, 'stsb'],
    'lm: the objective\'s own figures (masked LM, or a causal LM\'s '
    'perplexity); bleu: corpus BLEU of a causal LM\'s continuations; piqa, '
    'sst2: a causal LM\'s zero/few-shot accuracy; stsb: the correlation of '
    'untrained sentence embeddings with STS-B\'s scores.')
_BATCH_SIZE = flags.DEFINE_integer(
    'batch_size', 0, 'Global eval batch; 0: the run\'s data.batch_size '
    '(masked LM), 8 windows rounded up to a multiple of the devices '
    '(perplexity), 32 prompts (bleu), by bucket length (piqa, sst2: choice '
    'rows; stsb: sentences).')
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
_SHOTS = flags.DEFINE_integer('shots', 0, 'piqa, sst2: solved examples put '
                             'before each prompt.')
_SEED = flags.DEFINE_integer('seed', 0, 'piqa, sst2: draws the '
                            'demonstrations.')
_MAX_EXAMPLES = flags.DEFINE_integer('max_examples', 0, 'piqa, sst2, stsb: '
                                     'the first this many; 0: all.')
flags.mark_flags_as_required(['workdir', 'data'])


def evaluate(workdir: str, data: str, *, task: str = 'lm',
             batch_size: int = 0, max_batches: int = 0, context: int = 0,
             stride: int = 0,
             max_new_tokens: int = bleu.DEFAULT_MAX_NEW_TOKENS,
             truncate: bool = False, shots: int = 0, seed: int = 0,
             max_examples: int = 0, print_fn=print) -> dict:
  """Evaluates the workdir's latest checkpoint on `data`; returns the
  figures and writes them to WORKDIR/eval_results.json (see the module
  docstring for what each objective and task reports)."""
  if task not in in_context.TASKS and (shots or seed):
    raise InputError('--shots and --seed apply to --task=piqa and '
                     '--task=sst2')
  if task in ('lm', 'bleu') and max_examples:
    raise InputError('--max_examples applies to --task=piqa, sst2 and stsb')
  if task in (*in_context.TASKS, 'stsb'):
    if context or stride or max_batches:
      raise InputError('--context, --stride and --max_batches apply to '
                       '--task=lm')
    if task == 'stsb':
      results = sentence_embeddings.run_stsb(
          workdir, data, max_examples=max_examples, batch_size=batch_size)
    else:
      results = in_context.run(
          workdir, task, data, shots=shots, seed=seed,
          max_examples=max_examples, batch_size=batch_size, log=print_fn)
    return _report(workdir, results, results['step'],
                   f'{results["num_examples"]:,} {task} examples', print_fn)
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
  return _report(workdir, results, step, count, print_fn)


def _report(workdir: str, results: dict, step: int, count: str,
            print_fn) -> dict:
  """Prints the figures and writes them to WORKDIR/eval_results.json."""
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
             max_new_tokens=_MAX_NEW_TOKENS.value, truncate=_TRUNCATE.value,
             shots=_SHOTS.value, seed=_SEED.value,
             max_examples=_MAX_EXAMPLES.value)
  except InputError as e:
    fail(str(e))


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
