"""What a config costs before it runs: parameters and state bytes.

Builds the run's abstract train state with `training.build` (shapes only:
nothing is allocated, so the largest configs plan on a laptop). The
vocabulary size is data.vocab_size (what a trained vocabulary is asked
for). Activations are not counted: they depend on batch, remat and the
compiler. `lm_jax/plan.py` is its entry point.
"""
import jax

from lm_jax import sharding, training
from lm_jax.objectives import get_objective


def plan(config) -> dict:
  """{'params', 'params_by_part', 'param_bytes', 'optimizer_bytes'}."""
  objective = get_objective(config.objective.name)
  objective.check(config)
  config = config.copy_and_resolve_references()
  with config.unlocked():  # one device: the shapes do not depend on the mesh
    config.mesh.data, config.mesh.fsdp, config.mesh.tensor = 1, 1, 1
  mesh = sharding.make_mesh(config.mesh, devices=jax.devices()[:1])
  rules = sharding.rules(config.mesh)
  with sharding.use(mesh, rules):
    parts = training.build(config, objective, config.data.vocab_size, mesh,
                           rules)
  nbytes = lambda tree: sum(x.size * x.dtype.itemsize
                            for x in jax.tree.leaves(tree))
  params = parts.abstract_state.params
  return {
      'params': parts.num_params,
      'params_by_part': {name: sum(x.size for x in jax.tree.leaves(tree))
                         for name, tree in params.items()},
      'param_bytes': nbytes(params),
      'optimizer_bytes': nbytes(parts.abstract_state.opt_state),
  }
