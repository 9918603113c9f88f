"""A run's input: the vocabulary it implies, this host's training batches
from any step on, and fixed held-out batches for evaluation.

data.source = 'corpus': text files or TFDS through the tf.data pipeline
(pipeline.py), with a real vocabulary. data.source = 'synthetic': random
batches from numpy with the objective's masking invariants and
data.vocab_size ids; no TensorFlow, no files (timing and smoke runs on
machines without TensorFlow). Either way the batches of step k are a pure
function of (data.seed, k, host).
"""
import dataclasses
from typing import Any, Callable, Iterator

from data_pipelines import pipeline, vocabulary
from lm_jax.errors import InputError

# Held-out examples and masks use their own seed, so every model evaluated on
# a file with the same objective settings sees the same examples and masks.
EVAL_SEED = 20_200_323


@dataclasses.dataclass(frozen=True)
class TrainingInput:
  vocab_size: int
  vocab_id: str  # identifies the vocabulary's content, for resume checks
  summary: str  # one phrase for the log
  batches: Callable[[int], Iterator[dict]]  # start_step -> this host's batches
  tokenizer: Any = None  # None for synthetic input
  vocab_path: str = ''  # the vocabulary file, '' for synthetic input


def training_input(config, objective, process_index: int, process_count: int,
                   log=print) -> TrainingInput:
  data = config.data
  host_batch = data.batch_size // process_count
  if data.source == 'synthetic':
    def synthetic_batches(start_step):
      step = start_step
      while True:
        yield objective.make_synthetic_batch(
            config, host_batch, seed=(data.seed, step, process_index))
        step += 1
    return TrainingInput(data.vocab_size, f'synthetic-{data.vocab_size}',
                         'synthetic batches', synthetic_batches)
  if data.source != 'corpus':
    raise InputError(f'unknown data.source {data.source!r}; use corpus or '
                     'synthetic')

  tokenizer, vocab_id, vocab_path = vocabulary.load_or_build_tokenizer(
      data, process_count, log=log)
  store, masker = _examples_and_masker(config, objective, tokenizer, vocab_id,
                                       process_index, process_count, log)

  def corpus_batches(start_step):
    return pipeline.batches(
        store, batch_size=host_batch, start_step=start_step, seed=data.seed,
        masker=masker, process_index=process_index,
        process_count=process_count, prefetch=data.prefetch)

  return TrainingInput(tokenizer.vocab_size, vocab_id,
                       f'{len(store):,} examples on this host', corpus_batches,
                       tokenizer, vocab_path)


def eval_input(config, objective, tokenizer, vocab_id: str, files: str,
               process_index: int, process_count: int, log=print
               ) -> tuple[int, Callable[[], Iterator[dict]]]:
  """(examples on this host, () -> one ordered pass of masked batches) for
  held-out text `files`, built like training examples, masks fixed."""
  eval_config = config.copy_and_resolve_references()
  eval_config.data.train_files = files
  eval_config.data.tfds_name = ''
  eval_config.data.seed = EVAL_SEED
  store, masker = _examples_and_masker(eval_config, objective, tokenizer,
                                       vocab_id, process_index, process_count,
                                       log)
  host_batch = config.data.batch_size // process_count

  def batches():
    return pipeline.eval_batches(
        store, batch_size=host_batch, masker=masker,
        max_batches=config.data.eval_batches, process_index=process_index,
        process_count=process_count)

  return len(store), batches


def _examples_and_masker(config, objective, tokenizer, vocab_id: str,
                         process_index: int, process_count: int, log):
  """This host's built examples of config.data and the objective's masker."""
  store = pipeline.build_or_load_examples(
      config.data, tokenizer, vocab_id,
      objective.make_example_builder(config, tokenizer),
      objective.examples_id(config), process_index, process_count, log=log)
  return store, objective.make_masker(config, tokenizer, store)
