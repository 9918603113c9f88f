"""Checkpoints: orbax CheckpointManager with the train state and a JSON
record of the config, saved asynchronously.

Orbax writes each step into a temporary directory and renames it when
complete, so an interrupted save never replaces a good checkpoint.
"""
import os

import orbax.checkpoint as ocp

from data_pipelines import tf_cpu
from lm_jax.errors import InputError

# A workdir's layout: its checkpoints, and its own copy of the vocabulary,
# so evaluation and distillation read a workdir alone, whatever happens to
# the cache the vocabulary was trained into.
CHECKPOINTS = 'checkpoints'
BEST = 'best'  # a fine-tuning run's parameters with the best dev metric
VOCABULARY = 'vocab'
RESULTS = 'eval_results.json'  # the figures of evaluate and finetune


class Checkpointer:
  """Saves every `every` steps (and when forced), keeps the newest `keep`."""

  def __init__(self, directory: str, *, every: int = 1, keep: int = 1,
               use_async: bool = True, create: bool = True):
    """`create=False` opens another run's checkpoints: nothing is created,
    and as long as nothing is saved, nothing is written."""
    self._manager = ocp.CheckpointManager(
        os.path.abspath(directory),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, enable_async_checkpointing=use_async,
            create=create))
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


def open_workdir(workdir: str, subdir: str = CHECKPOINTS
                 ) -> tuple[Checkpointer, int, dict]:
  """Another run's workdir, for reading: (checkpointer, latest step, meta)
  of its `subdir` (its checkpoints, or a fine-tuning run's BEST).

  Raises InputError naming the workdir when it holds no checkpoint.
  """
  directory = os.path.join(workdir, subdir)
  if not os.path.isdir(directory):
    raise InputError(f'{workdir} is not an lm_jax workdir: it has no '
                     f'{subdir}/ directory')
  checkpointer = Checkpointer(directory, use_async=False, create=False)
  step = checkpointer.latest_step()
  if step is None:
    checkpointer.close()
    raise InputError(f'{workdir} holds no complete checkpoint')
  return checkpointer, step, checkpointer.read_meta(step)


def keep_vocabulary(vocab_path: str, workdir: str) -> None:
  """Copies the run's vocabulary file into the workdir (once)."""
  gfile = tf_cpu.tf().io.gfile
  target = os.path.join(workdir, VOCABULARY, os.path.basename(vocab_path))
  if not gfile.exists(target):
    gfile.makedirs(os.path.dirname(target))
    gfile.copy(vocab_path, target + '.tmp', overwrite=True)
    gfile.rename(target + '.tmp', target, overwrite=True)


def vocabulary_path(workdir: str, meta: dict) -> str:
  """The workdir's copy of its vocabulary, as its checkpoint names it."""
  if not meta.get('vocab_file'):
    raise InputError(f'{workdir} keeps no vocabulary (it was trained on '
                     'synthetic data)')
  return os.path.join(workdir, VOCABULARY, meta['vocab_file'])
