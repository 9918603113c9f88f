"""The on-disk cache of things derived from the corpus (vocabularies, built
examples), keyed by a fingerprint of everything they depend on.

Entries are written under a temporary name and renamed into place, so a run
killed while building never leaves a half-written entry behind.
"""
import hashlib
import json
import os

from data_pipelines.tf_cpu import tf as tf_module


def cache_root(configured: str) -> str:
  """data.cache_dir, else $LM_JAX_CACHE, else ~/.cache/lm_jax."""
  return (configured or os.environ.get('LM_JAX_CACHE')
          or os.path.join(os.path.expanduser('~'), '.cache', 'lm_jax'))


def fingerprint(*parts) -> str:
  """A short stable hash of JSON-serialisable parts."""
  blob = json.dumps(parts, sort_keys=True, default=str).encode()
  return hashlib.sha256(blob).hexdigest()[:16]


def file_signature(files) -> list:
  """(path, size, mtime) of each file: changes whenever a file does."""
  stats = [(f, tf_module().io.gfile.stat(f)) for f in files]
  return [(f, s.length, s.mtime_nsec) for f, s in stats]
