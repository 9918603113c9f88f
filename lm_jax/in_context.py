"""Zero- and few-shot in-context evaluation of a causal LM: multiple choice by
the log-likelihood of each choice, as GPT-2 and GPT-3 were evaluated.

The tasks. A question is a prompt and its choices, continuations that each
start with a space:
  piqa: "Question: <goal>\\nAnswer:", choices " <sol1>" and " <sol2>"
    (`valid.jsonl` with `valid-labels.lst`, read by
    `data_pipelines.tasks.multiple_choice`);
  sst2: "Review: <sentence>\\nSentiment:", choices " negative" and " positive"
    (GLUE's `dev.tsv`, read by `data_pipelines.tasks.glue`).
The data is the task's folder (for SST-2 also a GLUE folder holding SST-2/);
the questions evaluated are its validation split's.

Demonstrations. With K shots, K solved questions (prompt and right choice,
each followed by a blank line) precede the prompt. They are drawn from the
folder's train split when it has one, else from the other evaluated
questions (never the question itself): without replacement, by a generator
seeded with (seed, question index), so a question's demonstrations depend
on the seed alone, not on how many questions are evaluated.

Scoring. A row is the end-of-text token (in pretraining every document
follows one), the prompt's ids and the choice's ids, the two texts encoded
apart so that exactly the choice's tokens are scored: log p(choice | prompt)
is the sum of their log probabilities. `accuracy_sum` picks the choice with
the highest sum, `accuracy_mean` the highest mean per token
(length-normalised); a tie goes to the first choice. `majority_baseline` is
the share of the commonest right answer among the questions evaluated,
`chance` one over the number of choices.

Fitting the context. A row feeds all its tokens but the last: at most the
model's max_positions. Where the prompt and the longest choice do not fit,
demonstrations are dropped, the farthest from the question first; where the
question alone does not fit, the prompt loses tokens from the left (the
end-of-text token first); a choice longer than the context itself keeps
its first max_positions tokens (and the prompt's last token is then all
its context). `demonstrations_dropped`,
`prompts_truncated` and `choices_truncated` count these.

Rows run in a few padded shapes (`lm_jax/buckets.py`), so the forward
compiles once per bucket length.
"""
import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from data_pipelines.tasks import files, glue, multiple_choice
from lm_jax import buckets, perplexity, sharding
from lm_jax.checkpointing import open_workdir
from lm_jax.errors import InputError
from lm_jax.models.gpt import CausalLM
from lm_jax.models.model_config import TransformerConfig
from lm_jax.trained_lm import CAUSAL_OBJECTIVE, TrainedLM, open_causal_lm

TASKS = ('piqa', 'sst2')
DEMONSTRATION_END = '\n\n'
SST2_CHOICES = (' negative', ' positive')  # GLUE's labels 0 and 1


@dataclasses.dataclass(frozen=True)
class Question:
  where: str  # file and line, for messages
  prompt: str
  choices: tuple[str, ...]
  label: int

  @property
  def solved(self) -> str:
    """The prompt with its right answer: a demonstration."""
    return self.prompt + self.choices[self.label]


@dataclasses.dataclass(frozen=True)
class TaskData:
  task: str
  questions: list[Question]  # the evaluation split's
  pool: list[Question]  # demonstrations come from: train, or `questions`
  pool_split: str  # 'train', or the evaluation split's name

  @property
  def own_pool(self) -> bool:
    """Whether demonstrations come from the evaluated questions."""
    return self.pool is self.questions


@dataclasses.dataclass(frozen=True)
class Prompt:
  """A question as token ids, fitted to the context."""
  context_ids: tuple[int, ...]  # end-of-text, demonstrations, prompt
  choice_ids: tuple[tuple[int, ...], ...]
  demonstrations: tuple[int, ...]  # pool indices, in prompt order
  dropped: int  # demonstrations dropped to fit
  truncated: bool  # whether the context lost tokens from the left
  choices_cut: int  # choices that lost their end (longer than the context)


def check_settings(shots: int, seed: int, max_examples: int) -> None:
  """InputError naming the flag for a negative count or seed."""
  for flag, value in (('shots', shots), ('seed', seed),
                      ('max_examples', max_examples)):
    if value < 0:
      raise InputError(f'--{flag} must be at least 0, got {value}')


def read_task(task: str, data: str, shots: int = 0) -> TaskData:
  """The questions of `task` in the folder `data`, and, with shots, the
  pool of demonstrations; InputError naming the file (and line) for a
  missing or malformed file."""
  if task not in TASKS:
    raise InputError(f'unknown in-context task {task!r} (known: '
                     f'{", ".join(TASKS)})')
  if not data:
    raise InputError(f'set --data=DIR, the folder of the {task} files')
  if '://' not in data and not os.path.isdir(data):
    raise InputError(f'--data {data} is not a directory (the folder of the '
                     f'{task} files)')
  read = _read_piqa if task == 'piqa' else _read_sst2
  questions, split = read(data, 'valid' if task == 'piqa' else 'dev')
  pool, pool_split = questions, split
  if shots and _has_train(task, data):
    pool, pool_split = read(data, 'train')[0], 'train'
  return TaskData(task, questions, pool, pool_split)


def _has_train(task: str, data: str) -> bool:
  if task == 'piqa':
    return files.find_optional(
        data, multiple_choice.split_files('train')) is not None
  return _glue_file(data, 'train') is not None


def _where(path: str, guid: str) -> str:
  """'FILE:LINE' for a reader's 'line-N' guid, else 'FILE (id GUID)'."""
  if guid.startswith('line-'):
    return f'{path}:{guid[len("line-"):]}'
  return f'{path} (id {guid})'


def _text(value: str, what: str, where: str) -> str:
  value = value.strip()
  if not value:
    raise InputError(f'{where}: empty {what}')
  return value


def _read_piqa(data_dir: str, split: str) -> tuple[list[Question], str]:
  path = files.find(data_dir, multiple_choice.split_files(split),
                    f'PIQA {split}')
  examples = multiple_choice.find_split(data_dir, split)
  questions = []
  for e in examples:
    where = _where(path, e.guid)
    if e.label is None:
      raise InputError(f'{where}: no label (PIQA keeps them in '
                       f'<split>-labels.lst beside {os.path.basename(path)})')
    questions.append(Question(
        where, f'Question: {_text(e.context, "goal", where)}\nAnswer:',
        tuple(' ' + _text(c, 'solution', where) for c in e.choices),
        e.label))
  return questions, split


def _glue_file(data_dir: str, split: str) -> str | None:
  """SST-2's split in DIR itself or in DIR/SST-2; None if neither has it."""
  spec = glue.get_task('sst2')
  names = (spec.split(split).file_name,)
  return (files.find_optional(data_dir, names) or
          files.find_optional(os.path.join(data_dir, spec.directory), names))


def _read_sst2(data_dir: str, split: str) -> tuple[list[Question], str]:
  spec = glue.get_task('sst2')
  path = _glue_file(data_dir, split)
  if path is None:
    raise InputError(f'{data_dir} has no SST-2 {split} file (looked for '
                     f'{spec.split(split).file_name} there and in '
                     f'{spec.directory}/, also gzipped)')
  examples, _ = glue.read_split(spec, path, labelled=True)
  questions = []
  for e in examples:
    where = _where(path, e.guid)
    questions.append(Question(
        where, f'Review: {_text(e.text_a, "sentence", where)}\nSentiment:',
        SST2_CHOICES, e.label))
  return questions, split


def demonstration_indices(num_questions: int, pool_size: int, shots: int,
                          seed: int, own_pool: bool) -> list[np.ndarray]:
  """For each question i < num_questions, `shots` distinct pool indices
  drawn by a generator seeded with (seed, i); with `own_pool` (the pool is
  the questions themselves) never i."""
  available = pool_size - own_pool
  if shots > available:
    raise InputError(f'--shots={shots}, but there are only {available} '
                     'questions to draw demonstrations from')
  picks = []
  for i in range(num_questions):
    rng = np.random.default_rng([seed, i])
    chosen = rng.choice(available, size=shots, replace=False)
    picks.append(chosen + (chosen >= i) if own_pool else chosen)
  return picks


def build_prompts(data: TaskData, tokenizer, *, count: int, shots: int,
                  seed: int, max_positions: int) -> list[Prompt]:
  """The first `count` questions with their demonstrations, as token ids
  that fit `max_positions` (see the module docstring)."""
  picks = demonstration_indices(count, len(data.pool), shots, seed,
                                data.own_pool)
  prompts = []
  for question, chosen in zip(data.questions[:count], picks):
    encoded = [tokenizer.encode(c) for c in question.choices]
    choice_ids = tuple(tuple(ids[:max_positions]) for ids in encoded)
    longest = max(len(ids) for ids in choice_ids)
    room = max_positions + 1 - longest  # context tokens that fit, >= 1
    kept = [int(d) for d in chosen]
    while True:
      text = ''.join(data.pool[d].solved + DEMONSTRATION_END
                     for d in kept) + question.prompt
      context = perplexity.text_stream(tokenizer, text)
      if len(context) <= room or not kept:
        break
      kept.pop(0)  # the farthest from the question
    prompts.append(Prompt(
        tuple(int(t) for t in context[-room:]), choice_ids, tuple(kept),
        dropped=len(chosen) - len(kept), truncated=len(context) > room,
        choices_cut=sum(len(ids) > max_positions for ids in encoded)))
  return prompts


@functools.partial(jax.jit, static_argnames=('config',))
def _choice_log_p(params, batch: dict, *, config: TransformerConfig) -> dict:
  """Per row: Σ log p of its weighted targets (f32, nats) and their count."""
  model = CausalLM(config, deterministic=True)
  logits_BxLxV = model.apply({'params': params}, batch['input_ids'],
                             batch['input_mask'])
  nll_BxL = optax.softmax_cross_entropy_with_integer_labels(
      logits_BxLxV, batch['targets'])
  weights_BxL = batch['weights']
  # `where`, not a product: an empty padding row must not turn into NaN.
  log_p_BxL = jnp.where(weights_BxL > 0, -nll_BxL, 0.0)
  return {'log_p': jnp.sum(log_p_BxL, axis=1),
          'tokens': jnp.sum(weights_BxL, axis=1)}


def _choice_batch(rows: list[tuple[int, ...]], scored: list[int],
                  num_rows: int, length: int) -> dict:
  """Rows (context + choice ids) as inputs and next-token targets, right
  padded to [num_rows, length], weight 1 on the choice's tokens."""
  ids_BxL = np.zeros((num_rows, length), np.int32)
  targets_BxL = np.zeros((num_rows, length), np.int32)
  mask_BxL = np.zeros((num_rows, length), np.int32)
  weights_BxL = np.zeros((num_rows, length), np.float32)
  for row, (tokens, num_scored) in enumerate(zip(rows, scored)):
    width = len(tokens) - 1
    ids_BxL[row, :width] = tokens[:-1]
    targets_BxL[row, :width] = tokens[1:]
    mask_BxL[row, :width] = 1
    weights_BxL[row, width - num_scored:width] = 1
  return {'input_ids': ids_BxL, 'input_mask': mask_BxL,
          'targets': targets_BxL, 'weights': weights_BxL}


def log_likelihoods(lm: TrainedLM, prompts: list[Prompt], *,
                    batch_size: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """(log p(choice | prompt) in nats, the choice's tokens), [N, C] each, of
  every choice of every prompt (all with C choices); `batch_size` rows per
  step, 0: as `buckets.rows_per_batch` says."""
  num_choices = len(prompts[0].choice_ids)
  if any(len(p.choice_ids) != num_choices for p in prompts):
    raise ValueError('every prompt must have the same number of choices')
  rows = [p.context_ids + c for p in prompts for c in p.choice_ids]
  scored = [len(c) for p in prompts for c in p.choice_ids]
  log_p_R = np.zeros(len(rows), np.float64)
  tokens_R = np.zeros(len(rows), np.float64)
  score = lambda batch: _choice_log_p(lm.params, batch, config=lm.body)
  with sharding.use(lm.mesh, lm.rules):
    for length, num_rows, index in buckets.batches(
        [len(r) - 1 for r in rows], lm.body.max_positions,
        shards=lm.batch_shards, batch_size=batch_size):
      batch = _choice_batch([rows[i] for i in index],
                            [scored[i] for i in index], num_rows, length)
      out = buckets.run(score, batch, lm.mesh)
      log_p_R[index] = out['log_p'][:len(index)]
      tokens_R[index] = out['tokens'][:len(index)]
  shape = (len(prompts), num_choices)
  return log_p_R.reshape(shape), tokens_R.reshape(shape)


def evaluate(lm: TrainedLM, data: TaskData, *, shots: int = 0, seed: int = 0,
             max_examples: int = 0, batch_size: int = 0, log=print) -> dict:
  """The figures of `lm` on `data` (see the module docstring).

  Args:
    lm: an opened causal LM.
    data: the task's questions (and pool of demonstrations, with shots).
    shots: demonstrations before each prompt.
    seed: draws the demonstrations.
    max_examples: the first this many questions; 0: all.
    batch_size: rows per step, a multiple of lm.batch_shards; 0: by bucket.
    log: prints a note when prompts had to shrink to fit the context.
  """
  check_settings(shots, seed, max_examples)
  if batch_size:
    sharding.check_batch(batch_size, lm.mesh, jax.process_count())
  count = min(max_examples or len(data.questions), len(data.questions))
  context = lm.body.max_positions
  prompts = build_prompts(data, lm.tokenizer, count=count, shots=shots,
                          seed=seed, max_positions=context)
  log_p_NxC, tokens_NxC = log_likelihoods(lm, prompts, batch_size=batch_size)
  labels_N = np.asarray([q.label for q in data.questions[:count]])
  num_choices = log_p_NxC.shape[1]
  dropped = sum(p.dropped for p in prompts)
  truncated = sum(p.truncated for p in prompts)
  cut = sum(p.choices_cut for p in prompts)
  if dropped or truncated or cut:
    log(f'To fit the context of {context} tokens: {dropped} demonstrations '
        f'dropped, {truncated} prompts cut from the left, {cut} choices cut '
        'at the end.')
  results = {
      'step': lm.step, 'task': data.task, 'num_examples': count,
      'shots': shots,
      'accuracy_sum': float(np.mean(np.argmax(log_p_NxC, 1) == labels_N)),
      'accuracy_mean': float(np.mean(
          np.argmax(log_p_NxC / tokens_NxC, 1) == labels_N)),
      'majority_baseline': float(np.bincount(labels_N).max() / count),
      'chance': 1 / num_choices}
  if shots:
    results.update(seed=seed, demonstrations_from=data.pool_split)
  results.update(demonstrations_dropped=dropped, prompts_truncated=truncated,
                 choices_truncated=cut, context=context)
  return results


def require_causal(workdir: str, task: str) -> None:
  """InputError unless `workdir`'s checkpoint is a causal LM's (read from
  its metadata, before anything is built)."""
  if not workdir:
    raise InputError('set --workdir=WORKDIR of a causal LM pretraining run')
  checkpointer, _, meta = open_workdir(workdir)
  checkpointer.close()
  name = meta['config']['objective']['name']
  if name != CAUSAL_OBJECTIVE:
    article = 'an' if name[0] in 'aeiou' else 'a'
    raise InputError(f'--task={task} scores choices with a causal LM '
                     f'(configs/gpt1.py, configs/gpt2_*.py); {workdir} holds '
                     f'{article} {name} model')


def run(workdir: str, task: str, data: str, **settings) -> dict:
  """`evaluate` on the workdir's causal LM and the task files in `data`;
  bad settings, files and workdirs are refused before the model is built.
  `settings`: evaluate's keyword arguments."""
  check_settings(settings.get('shots', 0), settings.get('seed', 0),
                 settings.get('max_examples', 0))
  data = read_task(task, data, settings.get('shots', 0))
  # Too many shots for the pool is refused now, not after the model is built.
  demonstration_indices(0, len(data.pool), settings.get('shots', 0), 0,
                        data.own_pool)
  require_causal(workdir, task)
  return evaluate(open_causal_lm(workdir), data, **settings)
