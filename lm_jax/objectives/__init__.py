"""The registry of pretraining objectives.

An objective is four pieces: an instance builder and a masker (data side,
`data_pipelines/`), a model (`lm_jax/models/`) and a loss. The trainer and the
step only ever see an `Objective`, so a new one (BERT, SpanBERT, ...) is a new
module here plus its data pieces, not a change to the training loop.
"""
import dataclasses
from typing import Any, Callable

from lm_jax.errors import InputError


@dataclasses.dataclass(frozen=True)
class Objective:
  name: str
  # (config, vocab_size, deterministic) -> linen module
  build_model: Callable[..., Any]
  # (config) -> positional arguments of the model's __call__, for init
  init_inputs: Callable[..., tuple]
  # (model, params, batch, rng, objective_cfg) -> (loss, metrics dict)
  loss: Callable[..., Any]
  # (config, tokenizer) -> (seed -> instance builder)
  make_example_builder: Callable[..., Any]
  # Names the builder's output in the example cache; changes with its code.
  examples_id: str
  # (config, tokenizer) -> masker(example, example_index), in TF ops
  make_masker: Callable[..., Any]
  # (config, batch_size, seed) -> a random batch of numpy arrays, no TF
  make_synthetic_batch: Callable[..., dict]


def get_objective(name: str) -> Objective:
  from lm_jax.objectives import electra  # pylint: disable=g-import-not-at-top
  objectives = {'electra': electra.OBJECTIVE}
  if name not in objectives:
    raise InputError(f'unknown objective.name {name!r}; known: '
                     f'{", ".join(sorted(objectives))}')
  return objectives[name]
