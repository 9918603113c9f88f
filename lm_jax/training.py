"""A config's model, optimizer, sharded train state and jitted steps.

What the trainer, evaluation and the benchmarks share, so a benchmark times
exactly the step that training runs. Call `build` and use its functions
inside `sharding.use(mesh, rules)`.
"""
import dataclasses
from typing import Any, Callable

import flax.linen as nn
from flax import traverse_util
import jax
import jax.numpy as jnp

from lm_jax import optim, partition, sharding
from lm_jax.objectives import Objective
from lm_jax.step import jit_train_step
from lm_jax.train_state import TrainState


@dataclasses.dataclass(frozen=True)
class Training:
  model: nn.Module
  abstract_state: TrainState  # ShapeDtypeStructs
  state_shardings: TrainState  # NamedShardings
  # Frozen parameters (a distillation teacher, a fine-tuned body under PEFT;
  # see `partition`), {} when everything trains.
  abstract_frozen: Any
  frozen_shardings: Any
  # The whole parameter tree, trainable and frozen, and its shardings.
  abstract_params: Any
  param_shardings: Any
  frozen_rule: partition.Rule
  batch_sharding: jax.sharding.NamedSharding
  # jitted; (rng, frozen) -> sharded state
  init: Callable[[jax.Array, Any], TrainState]
  # jitted, donating the state; (state, batch, frozen) -> (state, metrics)
  step: Callable[[TrainState, dict, Any], tuple[TrainState, dict]]
  # jitted, deterministic; (params, batch) -> (sums, scored), see
  # `Objective.evaluate`; params as laid out by the caller
  evaluate: Callable[[Any, dict], tuple[dict, dict]]
  replicated_dims: list[str]  # parameter dims too small to split

  @property
  def num_params(self) -> int:
    return sum(x.size for x in jax.tree.leaves(self.abstract_state.params))

  @property
  def num_frozen_params(self) -> int:
    return sum(x.size for x in jax.tree.leaves(self.abstract_frozen))

  def restore_target(self) -> Any:
    """Abstract state carrying the target shardings, for checkpoint restore."""
    return _with_shardings(self.abstract_state, self.state_shardings)

  def frozen_target(self) -> Any:
    """Abstract frozen parameters carrying their shardings."""
    return _with_shardings(self.abstract_frozen, self.frozen_shardings)

  def params_target(self) -> Any:
    """The whole abstract parameter tree carrying its shardings."""
    return _with_shardings(self.abstract_params, self.param_shardings)

  def split(self, params) -> tuple[Any, Any]:
    """A whole parameter tree -> (trainable, frozen)."""
    return partition.split(params, self.frozen_rule)

  def merge(self, trainable, frozen) -> Any:
    """(trainable, frozen) -> the whole parameter tree."""
    return partition.merge(trainable, frozen)


def _with_shardings(abstract, shardings):
  return jax.tree.map(
      lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
      abstract, shardings)


def build(config, objective: Objective, vocab_size: int, mesh,
          logical_rules) -> Training:
  model = objective.build_model(config, vocab_size, deterministic=False)
  tx, schedule = optim.make_optimizer(
      config.optim, config.train.num_steps, config.model.num_layers,
      config.model.num_layer_groups)
  rule = (partition.nothing_frozen if objective.frozen is None
          else objective.frozen(config))

  def variables(rng):
    """(trainable, frozen) parameters, boxed with their logical names."""
    return partition.split(model.init({'params': rng, 'dropout': rng},
                                      *objective.init_inputs(config))['params'],
                           rule)

  def state_of(params):
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=tx.init(params))

  def init_boxed(rng):
    params, frozen = variables(rng)
    return state_of(params), frozen

  def init(rng, frozen):
    params, _ = nn.unbox(variables(rng))
    if objective.init_from_frozen is not None:
      params = objective.init_from_frozen(params, frozen, config)
    return state_of(params)

  # Shapes and layouts from abstract evaluation: nothing is allocated until
  # the jitted init writes each shard straight to its device.
  abstract_boxed = jax.eval_shape(init_boxed, jax.random.key(config.train.seed))
  logical_shardings = sharding.state_shardings(abstract_boxed, mesh,
                                               logical_rules)
  boxed = lambda x: isinstance(x, nn.LogicallyPartitioned)
  abstract = jax.tree.map(  # no sharding constraint outside jit
      lambda x: x.unbox(apply_constraint=False) if boxed(x) else x,
      abstract_boxed, is_leaf=boxed)
  state_shardings, notes = sharding.fit_to_shapes(abstract[0],
                                                  logical_shardings[0])
  frozen_shardings, frozen_notes = sharding.fit_to_shapes(
      abstract[1], logical_shardings[1])
  # The whole tree's layout: a leaf split in two is laid out as its halves
  # (the layers axis is never split over the mesh).
  abstract_params = jax.eval_shape(partition.merge, abstract[0].params,
                                   abstract[1])
  param_shardings = traverse_util.unflatten_dict({
      **traverse_util.flatten_dict(frozen_shardings),
      **traverse_util.flatten_dict(state_shardings.params)})
  batch_sharding = sharding.batch_sharding(mesh)
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  step = jit_train_step(
      state_shardings, batch_sharding, frozen_shardings, model=model,
      loss_fn=objective.loss, tx=tx, schedule=schedule, seed=config.train.seed,
      objective_cfg=config.objective)

  eval_model = objective.build_model(config, vocab_size, deterministic=True)
  eval_rng = jax.random.key(config.train.seed)  # the same draws every run

  def evaluate(params, batch):
    return objective.evaluate(eval_model, params, batch, eval_rng,
                              config.objective)

  return Training(
      model=model, abstract_state=abstract[0], state_shardings=state_shardings,
      abstract_frozen=abstract[1], frozen_shardings=frozen_shardings,
      batch_sharding=batch_sharding,
      init=jax.jit(init, in_shardings=(None, frozen_shardings),
                   out_shardings=state_shardings),
      step=step,
      # Parameters stay where they are (trained ones alone, or the whole
      # tree), the batch comes laid out by `sharding.global_batch`.
      evaluate=jax.jit(evaluate, out_shardings=replicated),
      abstract_params=abstract_params, param_shardings=param_shardings,
      frozen_rule=rule,
      replicated_dims=[n for n in notes if n.startswith('params/')]
      + frozen_notes)
