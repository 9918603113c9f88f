"""The registry of pretraining objectives.

An objective is four pieces: an instance builder and a masker (data side,
`data_pipelines/`), a model (`lm_jax/models/`) and a loss. The trainer, the
step and evaluation only ever see an `Objective`, so a new one is a new module
here plus its data pieces, not a change to the training loop.
"""
import dataclasses
from typing import Any, Callable

from lm_jax.errors import InputError


def _no_check(config) -> None:
  del config


@dataclasses.dataclass(frozen=True)
class Objective:
  name: str
  # (config, vocab_size, deterministic) -> linen module
  build_model: Callable[..., Any]
  # (config) -> positional arguments of the model's __call__, for init
  init_inputs: Callable[..., tuple]
  # (model, params, batch, rng, objective_cfg, frozen) -> (loss, metrics dict)
  loss: Callable[..., Any]
  # (model, params, batch, rng, objective_cfg) -> (sums, scored):
  # sums maps a metric to (numerator, denominator) over the batch, so held-out
  # figures are exact means over a whole set; scored maps a name to
  # (scores, labels, mask) arrays for an AUC. The model is deterministic;
  # frozen parameters take no part: evaluation judges the trained model.
  evaluate: Callable[..., Any]
  # (config, tokenizer) -> (seed -> instance builder)
  make_example_builder: Callable[..., Any]
  # (config) -> the builder's name in the example cache; changes with its code
  examples_id: Callable[..., str]
  # (config, tokenizer, store) -> masker(example, example_index), for tf.data
  make_masker: Callable[..., Any]
  # (config, batch_size, seed) -> a random batch of numpy arrays, no TF
  make_synthetic_batch: Callable[..., dict]
  # (config) -> None; refuses a wrong combination of settings with InputError
  # before anything is built, and fills what the objective implies.
  check: Callable[..., None] = _no_check
  # Frozen parameters (a distillation teacher): top-level parameter trees of
  # the model that get no gradient and no optimizer state. `restore_frozen`
  # (config, abstract frozen tree with shardings, vocab_id) loads them;
  # `init_from_frozen` (params, frozen, config) -> params derives initial
  # trainable values from them.
  frozen_keys: tuple[str, ...] = ()
  restore_frozen: Callable[..., Any] | None = None
  init_from_frozen: Callable[..., Any] | None = None


def get_objective(name: str) -> Objective:
  # pylint: disable=g-import-not-at-top
  from lm_jax.objectives import distillation, electra, mlm
  objectives = {o.name: o for o in (electra.OBJECTIVE, mlm.OBJECTIVE,
                                    distillation.OBJECTIVE)}
  if name not in objectives:
    raise InputError(f'unknown objective.name {name!r}; known: '
                     f'{", ".join(sorted(objectives))}')
  return objectives[name]
