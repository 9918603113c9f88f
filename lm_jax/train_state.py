"""What a checkpoint holds: the step, the parameters and the optimizer state.

No RNG state: per-step randomness is `fold_in(key(train.seed), step)`, so the
step alone determines it.
"""
from typing import Any

import flax.struct
import jax


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any
