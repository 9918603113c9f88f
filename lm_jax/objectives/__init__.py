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
  # (model, params, batch, rng, objective_cfg) -> (loss, metrics dict); params
  # is the whole tree, frozen parameters included (see `frozen`)
  loss: Callable[..., Any]
  # (model, params, batch, rng, objective_cfg) -> (sums, outputs):
  # sums maps a metric to (numerator, denominator) over the batch, so held-out
  # figures are exact means over a whole set; outputs are per-row arrays:
  # (scores, labels, mask) for an AUC in pretraining, a fine-tuning head's
  # predictions for its task's metrics. The model is deterministic; params
  # are what the caller holds: the whole tree when parameters are frozen
  # (a fine-tuning body), the trained part alone where they take no part
  # (a distillation teacher).
  evaluate: Callable[..., Any]
  # The data side, for objectives trained on text (pretraining). Fine-tuning
  # objectives read labelled task files instead and leave these None.
  # (config, tokenizer) -> (seed -> instance builder)
  make_example_builder: Callable[..., Any] | None = None
  # (config) -> the builder's name in the example cache; changes with its code
  examples_id: Callable[..., str] | None = None
  # (config, tokenizer, store) -> masker(example, example_index), for tf.data
  make_masker: Callable[..., Any] | None = None
  # (config, batch_size, seed) -> a random batch of numpy arrays, no TF
  make_synthetic_batch: Callable[..., dict] | None = None
  # (config) -> None; refuses a wrong combination of settings with InputError
  # before anything is built, and fills what the objective implies.
  check: Callable[..., None] = _no_check
  # Frozen parameters (a distillation teacher, a fine-tuned body under PEFT):
  # (config) -> a `partition.Rule` saying which parameters (or which leading
  # layers of a stacked leaf) get no gradient, no optimizer state and no
  # place in the run's checkpoints; None: everything trains.
  # `restore_frozen` (config, abstract frozen tree with shardings, vocab_id)
  # loads them; `init_from_frozen` (params, frozen, config) -> params derives
  # initial trainable values from them.
  frozen: Callable[..., Any] | None = None
  restore_frozen: Callable[..., Any] | None = None
  init_from_frozen: Callable[..., Any] | None = None
  # (config) -> {backbone part: path in this objective's parameter tree}: the
  # trained encoder that fine-tuning starts from ('embeddings', 'encoder' and,
  # where pretraining trained one, BERT's 'pooler').
  backbone_paths: Callable[..., dict[str, tuple[str, ...]]] | None = None


def get_objective(name: str) -> Objective:
  # pylint: disable=g-import-not-at-top
  from lm_jax.objectives import causal_lm, distillation, electra, mlm
  objectives = {o.name: o for o in (electra.OBJECTIVE, mlm.OBJECTIVE,
                                    distillation.OBJECTIVE,
                                    causal_lm.OBJECTIVE)}
  if name not in objectives:
    raise InputError(f'unknown objective.name {name!r}; known: '
                     f'{", ".join(sorted(objectives))}')
  return objectives[name]
