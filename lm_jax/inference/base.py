"""What every pipeline shares: inputs taken as JSON objects (or bare
strings), each named by where it came from for its error messages; the check
that a workdir holds the model the task needs; the batch size.

A pipeline reads every input (`parse`, which raises InputError naming the
input) before it runs anything, then predicts them all at once (`predict`),
returning one output per input, in input order.
"""
from typing import Any

import ml_collections

from lm_jax.errors import InputError
from lm_jax.trained_lm import TrainedLM


class Pipeline:
  """A callable from inputs to outputs, HF `pipeline` style."""
  task = ''
  objectives: tuple[str, ...] = ()  # the workdir objectives it serves
  needs = ''  # what workdir the task needs, for the mismatch error
  text_key = 'text'  # a bare string input stands for {text_key: string}

  def __init__(self, lm: TrainedLM, *, batch_size: int = 0):
    """`batch_size`: rows per batch, a multiple of the mesh's batch shards;
    0: as many as `lm_jax.buckets` fits in a batch of each length."""
    self.check_workdir(lm.config, lm.workdir)
    shards = lm.batch_shards
    if batch_size < 0 or batch_size % shards:
      raise InputError(f'batch_size {batch_size} is not a multiple of the '
                       f'{shards} batch shards of this machine\'s mesh')
    self.lm = lm
    self.batch_size = batch_size

  @classmethod
  def check_workdir(cls, config: ml_collections.ConfigDict,
                    workdir: str) -> None:
    """InputError unless `workdir` (its `config`) holds a model for the
    task."""
    if config.objective.name not in cls.objectives:
      raise InputError(f'{workdir} holds {describe(config)}; {cls.task} needs '
                       f'{cls.needs}')

  def __call__(self, inputs, *, wheres=None):
    """The output of one input (a dict, or a string for the task's main
    text), or the outputs of a list of them, in order.

    `wheres` names each input in error messages (e.g. 'FILE line N');
    default 'input I', counting from 0.
    """
    single = not isinstance(inputs, (list, tuple))
    items = [inputs] if single else list(inputs)
    if wheres is None:
      wheres = [f'input {i}' for i in range(len(items))]
    parsed = [self.parse(self._as_object(item, where), where)
              for item, where in zip(items, wheres, strict=True)]
    outputs = self.predict(parsed) if parsed else []
    return outputs[0] if single else outputs

  def _as_object(self, item, where: str) -> dict:
    if isinstance(item, str) and self.text_key:
      return {self.text_key: item}
    if not isinstance(item, dict):
      raise InputError(f'{where}: expected a JSON object, got '
                       f'{type(item).__name__}')
    return item

  def parse(self, value: dict, where: str) -> Any:
    """One input, checked and featurised; InputError names `where`."""
    raise NotImplementedError

  def predict(self, parsed: list) -> list[dict]:
    """The outputs of parsed inputs, in order."""
    raise NotImplementedError


def describe(config: ml_collections.ConfigDict) -> str:
  """'a sst2 fine-tuned model (classification)', 'an electra model'."""
  name = config.objective.name
  if 'task' in config:
    return f'a {config.task} fine-tuned model ({name})'
  return f'{"an" if name[0] in "aeiou" else "a"} {name} model'


def text(value: dict, key: str, where: str) -> str:
  """The non-empty string `value[key]`, or InputError naming `where`."""
  if key not in value:
    raise InputError(f'{where}: no "{key}" (keys: '
                     f'{", ".join(map(repr, value)) or "none"})')
  found = value[key]
  if not isinstance(found, str):
    raise InputError(f'{where}: "{key}" is {type(found).__name__}, not a '
                     'string')
  if not found.strip():
    raise InputError(f'{where}: "{key}" is empty')
  return found
