"""Predictions of a trained workdir over a JSON-lines file, one output line
per input line, as Hugging Face's pipelines make them.

  python -m lm_jax.predict --workdir=runs/sst2 --input=sentences.jsonl
  python -m lm_jax.predict --workdir=runs/squad --input=questions.jsonl \
      --output=answers.jsonl [--batch_size=64]
  python -m lm_jax.predict --workdir=runs/electra_small --input=masked.jsonl \
      --task=fill-mask --top_k=10

The task is the one the workdir was trained for unless --task names it:
  text-classification    GLUE workdir; {"text"} or {"text", "text_pair"}
                         (or the task's columns, e.g. "sentence1",
                         "sentence2") -> {"label", "score", "scores"};
                         STS-B -> {"score"}
  token-classification   CoNLL-2003 workdir; {"text"} or {"tokens": [...]}
                         -> {"words", "entities"}
  question-answering     SQuAD workdir; {"question", "context"} ->
                         {"answer", "start", "end", "score"}
  fill-mask              BERT-family or ELECTRA pretraining workdir; {"text"}
                         with [MASK]s -> {"masks", "sequence"}
  text-generation        causal LM workdir; {"prompt"} -> {"generated_text"}
                         (greedy; lm_jax.generate samples)

Every line of --input must be a JSON object with the task's keys: a line
that is blank, not an object, or lacks a key stops the run with one `error:`
line naming the file and line, before anything is predicted. --output is
written whole or not at all (to a temporary name, then renamed); without
it, the lines go to stdout.

From Python: `lm_jax.pipeline(task, workdir=...)` (`lm_jax/inference`).
"""
import json

from absl import app, flags, logging

from data_pipelines.tasks import files
from lm_jax.cli import fail, parse_flags
from lm_jax.errors import InputError

_WORKDIR = flags.DEFINE_string('workdir', None, 'A pretraining or fine-tuning '
                               'workdir.')
_INPUT = flags.DEFINE_string('input', None, 'JSON lines, one input object a '
                             'line (plain or .gz).')
_OUTPUT = flags.DEFINE_string('output', '', 'Where the output lines go; '
                              'empty: stdout.')
_TASK = flags.DEFINE_string('task', None, 'text-classification, '
                            'token-classification, question-answering, '
                            'fill-mask or text-generation; default: the '
                            'workdir\'s own.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 0, 'Rows per batch, a '
                                   'multiple of the devices; 0: as many as '
                                   'a length bucket fits (lm_jax/buckets.py).')
_BACKBONE = flags.DEFINE_string(
    'backbone', None, 'For a run that trained only adapters, LoRA or a '
    'prefix: the pretraining workdir holding its body, if not the one it was '
    'trained from (moved); another body is refused.')
_TOP_K = flags.DEFINE_integer('top_k', 5, 'fill-mask: candidates per [MASK].')
_MAX_NEW_TOKENS = flags.DEFINE_integer('max_new_tokens', 50, 'text-generation: '
                                       'tokens generated per prompt at most.')
flags.mark_flags_as_required(['workdir', 'input'])


def read_inputs(path: str) -> tuple[list[dict], list[str]]:
  """The objects of a JSON-lines file and where each is ('FILE line N')."""
  values, wheres = [], []
  for number, line in enumerate(files.read_lines(path), 1):
    where = f'{path} line {number}'
    if not line.strip():
      raise InputError(f'{where}: blank; expected a JSON object')
    try:
      value = json.loads(line)
    except json.JSONDecodeError as e:
      raise InputError(f'{where}: not JSON ({e.msg} at column {e.colno})'
                       ) from None
    if not isinstance(value, dict):
      raise InputError(f'{where}: expected a JSON object, got '
                       f'{type(value).__name__}')
    values.append(value)
    wheres.append(where)
  return values, wheres


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  try:
    values, wheres = read_inputs(_INPUT.value)
    # pylint: disable-next=g-import-not-at-top
    from lm_jax import inference  # after the input is known to be usable
    task = _TASK.value or inference.task_of(_WORKDIR.value)
    options = {'fill-mask': {'top_k': _TOP_K.value},
               'text-generation': {'max_new_tokens': _MAX_NEW_TOKENS.value},
               }.get(task, {})
    pipe = inference.pipeline(task, _WORKDIR.value, backbone=_BACKBONE.value,
                              batch_size=_BATCH_SIZE.value, **options)
    outputs = pipe(values, wheres=wheres)
  except InputError as e:
    fail(str(e))
  text = ''.join(json.dumps(out, ensure_ascii=False) + '\n'
                 for out in outputs)
  if _OUTPUT.value:
    files.write_text(_OUTPUT.value, text)
  else:
    print(text, end='')


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
