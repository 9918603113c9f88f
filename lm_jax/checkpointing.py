"""Checkpoints: orbax CheckpointManager with the train state and a JSON
record of the config, saved asynchronously.

Orbax writes each step into a temporary directory and renames it when
complete, so an interrupted save never replaces a good checkpoint.
"""
import os

import orbax.checkpoint as ocp
from absl import logging

from lm_jax.errors import InputError

CHECKPOINTS = 'checkpoints'  # inside a workdir


class Checkpointer:
  """Saves every `every` steps (and when forced), keeps the newest `keep`."""

  def __init__(self, directory: str, *, every: int = 1, keep: int = 1,
               use_async: bool = True, read_only: bool = False):
    options = ocp.CheckpointManagerOptions(
        max_to_keep=None if read_only else keep,
        save_interval_steps=0 if read_only else 1,
        enable_async_checkpointing=use_async, create=not read_only,
        read_only=read_only)
    # Orbax warns that a read-only directory is read-only; we asked for it.
    quiet = logging.get_verbosity() > logging.ERROR and read_only
    if quiet:
      previous = logging.get_verbosity()
      logging.set_verbosity(logging.ERROR)
    try:
      self._manager = ocp.CheckpointManager(os.path.abspath(directory),
                                            options=options)
    finally:
      if quiet:
        logging.set_verbosity(previous)
    self._every = every

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state, meta: dict, *, force: bool = False) -> bool:
    """Saves at multiples of `every`, or any step when forced."""
    if not force and step % self._every:
      return False
    return self._manager.save(
        step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                      meta=ocp.args.JsonSave(meta)),
        force=True)

  def restore(self, step: int, abstract_state):
    """The state at `step`, laid out as the shardings in `abstract_state`."""
    restored = self._manager.restore(
        step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state)))
    return restored.state

  def restore_params(self, step: int, abstract_params):
    """The parameters alone (no optimizer state), laid out as the shardings
    in `abstract_params`."""
    restored = self._manager.restore(
        step, args=ocp.args.Composite(state=ocp.args.PyTreeRestore(
            item={'params': abstract_params},
            restore_args=ocp.checkpoint_utils.construct_restore_args(
                {'params': abstract_params}),
            partial_restore=True)))
    return restored.state['params']

  def read_meta(self, step: int) -> dict:
    restored = self._manager.restore(
        step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
    return restored.meta

  def close(self) -> None:
    """Waits for pending saves, then releases the manager."""
    self._manager.wait_until_finished()
    self._manager.close()


def open_workdir(workdir: str) -> tuple[Checkpointer, int, dict]:
  """A finished run's workdir, read-only: (checkpointer, latest step, meta).

  Raises InputError naming the workdir when it holds no checkpoint.
  """
  directory = os.path.join(workdir, CHECKPOINTS)
  if not os.path.isdir(directory):
    raise InputError(f'{workdir} is not an lm_jax workdir: it has no '
                     f'{CHECKPOINTS}/ directory')
  checkpointer = Checkpointer(directory, use_async=False, read_only=True)
  step = checkpointer.latest_step()
  if step is None:
    checkpointer.close()
    raise InputError(f'{workdir} holds no complete checkpoint')
  return checkpointer, step, checkpointer.read_meta(step)
