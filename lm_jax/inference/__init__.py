"""Inference as Hugging Face's `pipeline(...)` offers it, on lm_jax workdirs.

  from lm_jax import pipeline
  classify = pipeline('text-classification', workdir='runs/sst2')
  classify(['a gripping film', {'text': 'dull and slow'}])
  qa = pipeline(workdir='runs/squad')  # the task the workdir was trained for
  qa({'question': 'Who?', 'context': '...'})

Tasks and the workdirs they read: text-classification (GLUE fine-tuning),
token-classification (CoNLL-2003), question-answering (SQuAD 1.1/2.0),
fill-mask (BERT-family or ELECTRA pretraining), text-generation (causal LM
pretraining); one module each. A pipeline opens the workdir with
`trained_lm.open_trained` (a fine-tuning run's best/ parameters), checks
every input before running any, and runs them bucketed by length
(`lm_jax.buckets`), each batch shape compiled once (`bucketed_model`).
`lm_jax/predict.py` runs one over a JSON-lines file.
"""
import ml_collections

from lm_jax.checkpointing import open_workdir
from lm_jax.errors import InputError
from lm_jax.inference.base import Pipeline, describe
from lm_jax.inference.fill_mask import FillMask
from lm_jax.inference.question_answering import QuestionAnswering
from lm_jax.inference.text_classification import TextClassification
from lm_jax.inference.text_generation import TextGeneration
from lm_jax.inference.token_classification import TokenClassification
from lm_jax.trained_lm import open_trained

TASKS = {p.task: p for p in (TextClassification, TokenClassification,
                             QuestionAnswering, FillMask, TextGeneration)}


def workdir_config(workdir: str) -> ml_collections.ConfigDict:
  """The run config recorded in `workdir`'s latest checkpoint."""
  if not workdir:
    raise InputError('set the workdir of a pretraining or fine-tuning run')
  checkpointer, _, meta = open_workdir(workdir)
  checkpointer.close()
  return ml_collections.ConfigDict(meta['config'])


def task_of(workdir: str, config=None) -> str:
  """The pipeline task a workdir's model serves (the one it was trained
  for); `config` its run config, if read already."""
  config = config or workdir_config(workdir)
  for task, cls in TASKS.items():
    if config.objective.name in cls.objectives:
      return task
  raise InputError(f'{workdir} holds {describe(config)}, which no pipeline '
                   f'serves (tasks: {", ".join(TASKS)})')


def pipeline(task: str | None = None, workdir: str = '',
             backbone: str | None = None, **options) -> Pipeline:
  """The pipeline of `task` (None: the workdir's own) on `workdir`'s model.

  Args:
    task: one of TASKS.
    workdir: a pretraining or fine-tuning workdir.
    backbone: for a run that trained only part of its model (adapters,
      LoRA, a prefix): the pretraining workdir to read the rest from, if not
      the one it was trained from (see `trained_lm.open_trained`). Runs on
      one body share it.
    **options: batch_size (rows per batch, a multiple of the mesh's batch
      shards; default: as many as `lm_jax.buckets` fits in a batch of each
      length), and the task's own: top_k
      (fill-mask), null_threshold (question-answering), generation.Settings
      fields (text-generation).

  Raises InputError (one line) for an unknown task, a workdir that holds no
  model for it, or unusable options.
  """
  if task is not None and task not in TASKS:
    raise InputError(f'unknown task {task!r}; known: {", ".join(TASKS)}')
  # The task checked against the workdir before its model is built.
  config = workdir_config(workdir)
  task = task or task_of(workdir, config)
  TASKS[task].check_workdir(config, workdir)
  return TASKS[task](open_trained(workdir, backbone=backbone), **options)
