"""Which parameters a run trains: the parameter tree split into a trainable
part (gradients, optimizer state, checkpoints) and a frozen part (read by the
loss, never differentiated, never saved by the run), and merged back.

A rule maps a parameter's path (its tuple of names) to what of it is frozen:
False (nothing), True (all of it), or an int k: the first k slices of a leaf
stacked over layers (`nn.scan`'s leading 'layers' axis), so "freeze the first
k layers" needs no zeroed updates. The trainable part then holds slices
k.. and the frozen part slices ..k of that leaf, under the same path.
"""
from typing import Any, Callable

import flax.linen as nn
from flax import traverse_util
import jax.numpy as jnp

Path = tuple[str, ...]
Rule = Callable[[Path], bool | int]


def nothing_frozen(path: Path) -> bool:
  del path
  return False


def _take(leaf, index: slice):
  """leaf[index] along the stacking axis; a boxed leaf keeps its names."""
  if isinstance(leaf, nn.LogicallyPartitioned):
    return leaf.replace_boxed(leaf.value[index])
  return leaf[index]


def split(tree, rule: Rule) -> tuple[dict, dict]:
  """(trainable, frozen) nested dicts holding the tree's leaves (or slices)
  as `rule` says."""
  trainable, frozen = {}, {}
  for path, leaf in traverse_util.flatten_dict(tree).items():
    k = rule(path)
    if k is True:
      frozen[path] = leaf
    elif k is False or k == 0:
      trainable[path] = leaf
    else:
      frozen[path] = _take(leaf, slice(0, k))
      trainable[path] = _take(leaf, slice(k, None))
  return (traverse_util.unflatten_dict(trainable),
          traverse_util.unflatten_dict(frozen))


def merge(trainable, frozen) -> Any:
  """The whole tree again: a leaf split in two is its frozen slices followed
  by its trainable ones."""
  if not frozen:
    return trainable
  leaves = traverse_util.flatten_dict(trainable)
  for path, leaf in traverse_util.flatten_dict(frozen).items():
    leaves[path] = (jnp.concatenate([leaf, leaves[path]]) if path in leaves
                    else leaf)
  return traverse_util.unflatten_dict(leaves)

