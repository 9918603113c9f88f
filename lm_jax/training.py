"""A config's model, optimizer, sharded train state and jitted step.

What the trainer and the benchmarks share, so a benchmark times exactly the
step that training runs. Call `build` and use its functions inside
`sharding.use(mesh, rules)`.
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
  batch_sharding: jax.sharding.NamedSharding
  init: Callable[[jax.Array], TrainState]  # jitted; rng -> sharded state
  step: Callable[[TrainState, dict], tuple[TrainState, dict]]  # jitted, donating
  replicated_dims: list[str]  # parameter dims too small to split

  @property
  def num_params(self) -> int:
    return sum(x.size for x in jax.tree.leaves(self.abstract_state.params))

  def restore_target(self) -> Any:
    """Abstract state carrying the target shardings, for checkpoint restore."""
    return jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
        self.abstract_state, self.state_shardings)


def build(config, objective: Objective, vocab_size: int, mesh,
          logical_rules) -> Training:
  model = objective.build_model(config, vocab_size, deterministic=False)
  tx, schedule = optim.make_optimizer(config.optim, config.train.num_steps)

  def init_boxed(rng):
    params = model.init({'params': rng, 'dropout': rng},
                        *objective.init_inputs(config))['params']
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=tx.init(params))

  def init(rng):
    return nn.unbox(init_boxed(rng))

  # Shapes and layouts from abstract evaluation: nothing is allocated until
  # the jitted init writes each shard straight to its device.
  abstract_boxed = jax.eval_shape(init_boxed, jax.random.key(config.train.seed))
  logical_shardings = sharding.state_shardings(abstract_boxed, mesh,
                                               logical_rules)
  boxed = lambda x: isinstance(x, nn.LogicallyPartitioned)
  abstract = jax.tree.map(  # no sharding constraint outside jit
      lambda x: x.unbox(apply_constraint=False) if boxed(x) else x,
      abstract_boxed, is_leaf=boxed)
  state_shardings, notes = sharding.fit_to_shapes(abstract, logical_shardings)
  batch_sharding = sharding.batch_sharding(mesh)
  step = jit_train_step(
      state_shardings, batch_sharding, model=model, loss_fn=objective.loss,
      tx=tx, schedule=schedule, seed=config.train.seed,
      objective_cfg=config.objective)
  return Training(
      model=model, abstract_state=abstract, state_shardings=state_shardings,
      batch_sharding=batch_sharding,
      init=jax.jit(init, out_shardings=state_shardings), step=step,
      replicated_dims=[n for n in notes if n.startswith('params/')])
