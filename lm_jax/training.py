"""A config's model, optimizer, sharded train state and jitted steps.

What the trainer, evaluation and the benchmarks share, so a benchmark times
exactly the step that training runs. Call `build` and use its functions
inside `sharding.use(mesh, rules)`.
"""
import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from lm_jax import optim, sharding
from lm_jax.objectives import Objective
from lm_jax.step import jit_train_step
from lm_jax.train_state import TrainState


@dataclasses.dataclass(frozen=True)
class Training:
  model: nn.Module
  abstract_state: TrainState  # ShapeDtypeStructs
  state_shardings: TrainState  # NamedShardings
  abstract_frozen: Any  # frozen parameters (a teacher), {} for most objectives
  frozen_shardings: Any
  batch_sharding: jax.sharding.NamedSharding
  # jitted; (rng, frozen) -> sharded state
  init: Callable[[jax.Array, Any], TrainState]
  # jitted, donating the state; (state, batch, frozen) -> (state, metrics)
  step: Callable[[TrainState, dict, Any], tuple[TrainState, dict]]
  # jitted, deterministic; (params, batch) -> (sums, scored), see
  # `Objective.evaluate`
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
  frozen_keys = objective.frozen_keys

  def split(variables):
    trainable = {k: v for k, v in variables.items() if k not in frozen_keys}
    return trainable, {k: v for k, v in variables.items() if k in frozen_keys}

  def variables(rng):
    """(trainable, frozen) parameters, boxed with their logical names."""
    return split(model.init({'params': rng, 'dropout': rng},
                            *objective.init_inputs(config))['params'])

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
      evaluate=jax.jit(evaluate, in_shardings=(state_shardings.params,
                                               batch_sharding),
                       out_shardings=replicated),
      replicated_dims=[n for n in notes if n.startswith('params/')]
      + frozen_notes)
