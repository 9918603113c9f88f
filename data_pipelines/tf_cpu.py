"""TensorFlow for tf.data and file access only.

Imported on first use (so code that never reads data never pays for it, and
machines without TensorFlow can still train on synthetic batches) and hidden
from GPUs and TPUs, whose memory belongs to JAX.
"""
import functools
import types


@functools.cache
def tf() -> types.ModuleType:
  import tensorflow  # pylint: disable=g-import-not-at-top
  for kind in ('GPU', 'TPU'):
    try:
      tensorflow.config.set_visible_devices([], kind)
    except (RuntimeError, ValueError):  # already initialised, or no such kind
      pass
  return tensorflow
