"""A trained model opened from its pretraining workdir, and, for causal LMs,
text in, text out.

`open_trained` is the one way evaluation (`lm_jax/evaluate.py`: held-out
masked-LM figures, perplexity, BLEU) and generation (`lm_jax/generate.py`)
read a workdir; `open_causal_lm` also requires the checkpoint's objective
to be `causal_lm`. The run is rebuilt
with `training.build` on a mesh of this machine's devices (FSDP over all of
them, as `lm_jax/evaluate.py` does for encoders), so the sharding rules and
the checkpointer are the training run's own, and only the parameters are
restored. The tokenizer is the workdir's copy of the run's vocabulary,
checked against the checkpoint's vocabulary id.

`continue_prompts` turns prompts (text) into generated text with
`lm_jax.generation`; `generate_text` opens a workdir and returns each prompt
followed by its continuation.
"""
import dataclasses
import json
import math
import os
from typing import Any, Iterator

import jax
import ml_collections

from data_pipelines import sources, tokenizers, vocabulary
from lm_jax import generation, sharding, training
from lm_jax.checkpointing import BEST, open_workdir, vocabulary_path
from lm_jax.errors import InputError
from lm_jax.models.model_config import TransformerConfig, from_model_config
from lm_jax.objectives import get_objective

CAUSAL_OBJECTIVE = 'causal_lm'
# Prompts generated together: one cache of this many rows at a time.
GENERATE_BATCH = 32


@dataclasses.dataclass(frozen=True)
class TrainedLM:
  """A model restored from a workdir's latest checkpoint."""
  workdir: str
  step: int
  config: ml_collections.ConfigDict  # the run's, its mesh this machine's
  body: TransformerConfig  # the model's shape; max_positions its context
  params: Any  # parameters, laid out over `mesh`
  tokenizer: tokenizers.Tokenizer
  vocab_id: str
  mesh: jax.sharding.Mesh
  rules: tuple  # logical axis -> mesh axis
  run_parts: training.Training  # the run's model and jitted evaluation

  @property
  def batch_shards(self) -> int:
    """How many ways a batch splits over the mesh: a batch size must be a
    multiple of it."""
    return math.prod(self.mesh.shape[a] for a in sharding.BATCH_AXES)


def open_trained(workdir: str, objective: str | None = None,
                 backbone: str | None = None) -> TrainedLM:
  """The model of `workdir`'s latest checkpoint, whatever its objective (or
  only `objective`'s: another is refused before anything is built).

  A fine-tuning run that trained only part of the model (PEFT: adapters,
  LoRA, a prefix, frozen layers) keeps only that part; the rest is read from
  its pretraining workdir, or from `backbone` when given (a copy moved
  elsewhere), which must hold the same body. Several such runs on one body
  share one copy of its frozen parameters.

  Raises InputError (one line) when the workdir is missing or holds no
  checkpoint, holds another objective's model, when its vocabulary is not
  the one the checkpoint was trained with, or its body is not `backbone`.
  """
  if not workdir:
    raise InputError('set --workdir=WORKDIR of a pretraining run')
  checkpointer, step, meta = open_workdir(workdir)
  if 'task' in meta['config'] and os.path.isdir(os.path.join(workdir, BEST)):
    # A fine-tuning run: the parameters it reports (best on dev).
    checkpointer.close()
    checkpointer, step, meta = open_workdir(workdir, BEST)
  try:
    config = ml_collections.ConfigDict(meta['config'])
    name = config.objective.name
    if objective is not None and name != objective:
      article = 'an' if name[0] in 'aeiou' else 'a'
      raise InputError(f'{workdir} holds {article} {name} model (an encoder); '
                       'generation needs a causal LM (configs/gpt1.py, '
                       'configs/gpt2_*.py)')
    if 'task' in config:
      _fine_tuned_vocabulary(config, meta)
    config.data.vocab_path = vocabulary_path(workdir, meta)
    tokenizer = tokenizers.load_tokenizer(
        config.data.tokenizer, config.data.vocab_path,
        vocabulary.lowercases(config.data))
    vocab_id = vocabulary.vocab_id(config.data.vocab_path, config.data)
    if vocab_id != meta['vocab_id']:
      raise InputError(f'{config.data.vocab_path} is not the vocabulary the '
                       'checkpoint was trained with')
    # Whatever devices are here: parameters over all of them, FSDP.
    config.mesh.data, config.mesh.fsdp, config.mesh.tensor = 1, -1, 1
    mesh = sharding.make_mesh(config.mesh)
    rules = sharding.rules(config.mesh)
    with sharding.use(mesh, rules):
      run_parts = training.build(config, _objective(name),
                                 tokenizer.vocab_size, mesh, rules)
      params = checkpointer.restore_params(
          step, run_parts.restore_target().params)
      if 'task' in config and run_parts.abstract_frozen:
        params = run_parts.merge(params, _frozen_body(
            run_parts, meta, workdir, backbone))
  finally:
    checkpointer.close()
  return TrainedLM(workdir=workdir, step=step, config=config,
                   body=from_model_config(config.model, tokenizer.vocab_size),
                   params=params, tokenizer=tokenizer, vocab_id=vocab_id,
                   mesh=mesh, rules=rules, run_parts=run_parts)


def _objective(name: str):
  """A pretraining objective, or a fine-tuning head's."""
  from lm_jax.finetuning import objectives  # pylint: disable=g-import-not-at-top
  if name in objectives.OBJECTIVES:
    return objectives.OBJECTIVES[name]
  return get_objective(name)


def _frozen_body(run_parts, meta: dict, workdir: str, body_workdir):
  """The frozen part of a fine-tuning run's body, from its pretraining
  workdir (or `body_workdir`), checked to be the body it was trained on."""
  from lm_jax.finetuning import backbone  # pylint: disable=g-import-not-at-top
  # Its own vocabulary is loaded already: the body's record is enough.
  pretrained = backbone.read_pretrained(body_workdir or meta['init_checkpoint'])
  backbone.check_same_body(meta.get('backbone'), pretrained, workdir)
  if pretrained.vocab_id != meta['vocab_id']:
    raise InputError(f'{workdir} was trained with another vocabulary than '
                     f'{pretrained.workdir}\'s')
  return backbone.restore_body(run_parts, pretrained, share=True)[1]


def _fine_tuned_vocabulary(config, meta: dict) -> None:
  """A fine-tuning config's tokenizer settings: its own, or, for a run made
  before it recorded them, its pretraining workdir's."""
  if 'tokenizer' in config.data:
    return
  checkpointer, _, pretrained = open_workdir(meta['init_checkpoint'])
  checkpointer.close()
  with config.unlocked():
    for key in ('tokenizer', 'lowercase', 'spm_lowercase'):
      if key in pretrained['config']['data']:
        config.data[key] = pretrained['config']['data'][key]


def open_causal_lm(workdir: str) -> TrainedLM:
  """The causal LM of `workdir`'s latest checkpoint; an encoder's workdir
  is refused in one line."""
  if not workdir:
    raise InputError('set --workdir=WORKDIR of a causal LM pretraining run')
  return open_trained(workdir, CAUSAL_OBJECTIVE)


def continue_prompts(lm: TrainedLM, prompts: list[str],
                     settings: generation.Settings,
                     batch_size: int = GENERATE_BATCH) -> list[str]:
  """The text generated after each prompt (the prompt not included).

  Prompts are generated `batch_size` at a time, in order; a row's tokens do
  not depend on the others of its batch (left padding is masked), so greedy
  output does not depend on `batch_size`. Raises InputError for unusable
  settings, an empty prompt, or (without settings.truncate) a prompt that
  leaves no room for settings.max_new_tokens in the model's context; prompt
  i counts `prompts` from 0.
  """
  settings.check()
  if not prompts:
    return []
  ids = [lm.tokenizer.encode(prompt) for prompt in prompts]
  # Every prompt checked before anything runs, numbered in `prompts`.
  generation.left_pad(ids, settings, lm.body.max_positions,
                      lm.tokenizer.pad_id)
  texts = []
  for start in range(0, len(ids), batch_size):
    new_ids = generation.generate(
        lm.body, lm.params, ids[start:start + batch_size], settings,
        eot_id=lm.tokenizer.eot_id, pad_id=lm.tokenizer.pad_id)
    texts.extend(lm.tokenizer.decode(row) for row in new_ids)
  return texts


def generate_text(workdir: str, prompts: list[str], **settings) -> list[str]:
  """Each prompt followed by the text the workdir's causal LM generates
  after it.

  Args:
    workdir: a causal LM pretraining workdir.
    prompts: texts to continue.
    **settings: fields of `generation.Settings` (max_new_tokens,
      temperature, top_k, top_p, seed, truncate).
  """
  settings = generation.Settings(**settings)
  settings.check()  # before the model is built
  lm = open_causal_lm(workdir)
  return [prompt + text for prompt, text in
          zip(prompts, continue_prompts(lm, prompts, settings))]


def jsonl_objects(patterns: str, what: str) -> Iterator[tuple[str, dict]]:
  """(where, object) for each non-blank line of the files `patterns` names
  (comma-separated globs; `what` names the flag), where = 'FILE line N'.

  Raises InputError naming file and line for a line that is not a JSON
  object.
  """
  for path in sources.list_files(patterns, what):
    for number, line in enumerate(sources.read_lines(path), 1):
      if not line.strip():
        continue
      where = f'{path} line {number}'
      try:
        value = json.loads(line)
      except json.JSONDecodeError as e:
        raise InputError(f'{where}: not JSON ({e.msg} at column {e.colno})'
                         ) from None
      if not isinstance(value, dict):
        raise InputError(f'{where}: expected a JSON object, got '
                         f'{type(value).__name__}')
      yield where, value


def prompt_of(value: dict, where: str) -> str:
  """The non-empty "prompt" string of a JSON line, or InputError naming it."""
  prompt = value.get('prompt')
  if not isinstance(prompt, str) or not prompt:
    raise InputError(f'{where}: expected a non-empty "prompt" string')
  return prompt


def read_prompts(patterns: str, what: str = '--prompts_file') -> list[str]:
  """The prompts of JSON-lines files: one {"prompt": "..."} object a line
  (other keys ignored, blank lines skipped)."""
  prompts = [prompt_of(value, where)
             for where, value in jsonl_objects(patterns, what)]
  if not prompts:
    raise InputError(f'{what} {patterns} holds no prompts')
  return prompts
