"""Checkpoints: orbax CheckpointManager with the train state and a JSON
record of the config, saved asynchronously.

Orbax writes each step into a temporary directory and renames it when
complete, so an interrupted save never replaces a good checkpoint.
"""
import os

import orbax.checkpoint as ocp


class Checkpointer:
  """Saves every `every` steps (and when forced), keeps the newest `keep`."""

  def __init__(self, directory: str, *, every: int, keep: int,
               use_async: bool = True):
    self._manager = ocp.CheckpointManager(
        os.path.abspath(directory),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, enable_async_checkpointing=use_async,
            create=True))
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

  def read_meta(self, step: int) -> dict:
    restored = self._manager.restore(
        step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
    return restored.meta

  def close(self) -> None:
    """Waits for pending saves, then releases the manager."""
    self._manager.wait_until_finished()
    self._manager.close()
