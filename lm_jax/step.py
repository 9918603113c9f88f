"""The jitted train step: loss, gradients and the optimizer update.

One step for every objective: the objective's loss is the only part that
knows which model it trains. Randomness comes from fold_in(key, step), so a
resumed run draws the same dropout masks and generator samples. `frozen`
holds parameters the loss reads but never trains (a distillation teacher, a
fine-tuned body under PEFT): they get no gradient and no optimizer state; the
loss sees them merged with the trained ones (`partition.merge`).
"""
import functools

import jax
import optax

from lm_jax import partition
from lm_jax.train_state import TrainState


def train_step(state: TrainState, batch: dict, frozen, *, model, loss_fn, tx,
               schedule, seed: int, objective_cfg):
  rng = jax.random.fold_in(jax.random.key(seed), state.step)
  grad_fn = jax.value_and_grad(
      lambda p: loss_fn(model, partition.merge(p, frozen), batch, rng,
                        objective_cfg),
      has_aux=True)
  (_, metrics), grads = grad_fn(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  metrics = dict(metrics, grad_norm=optax.global_norm(grads),
                 learning_rate=schedule(state.step))
  return TrainState(step=state.step + 1, params=params,
                    opt_state=opt_state), metrics


def jit_train_step(state_shardings, batch_sharding, frozen_shardings,
                   **step_kwargs):
  """jit with explicit layouts; the input state is donated to the output."""
  replicated = jax.sharding.NamedSharding(batch_sharding.mesh,
                                          jax.sharding.PartitionSpec())
  return jax.jit(functools.partial(train_step, **step_kwargs),
                 in_shardings=(state_shardings, batch_sharding,
                               frozen_shardings),
                 out_shardings=(state_shardings, replicated),
                 donate_argnums=0)
