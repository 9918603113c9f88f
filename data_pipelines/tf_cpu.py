"""TensorFlow for tf.data and file access only.

Imported on first use (so code that never reads data never pays for it, and
machines without TensorFlow can still train on synthetic batches) and hidden
from GPUs and TPUs, whose memory belongs to JAX.
"""
import functools
import os
import types


@functools.cache
def tf() -> types.ModuleType:
  # Quiet TF's C++ start-up lines; oneDNN only matters for float kernels,
  # which the input pipeline hardly runs.
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')
  import tensorflow  # pylint: disable=g-import-not-at-top
  for kind in ('GPU', 'TPU'):
    try:
      tensorflow.config.set_visible_devices([], kind)
    except (RuntimeError, ValueError):  # already initialised, or no such kind
      pass
  return tensorflow
