"""lm_jax: BERT-era language-model pretraining in JAX/Flax.

`lm_jax.pipeline(task, workdir=...)` (`lm_jax/inference`) is imported on
first use, so that `import lm_jax` stays cheap.
"""


def __getattr__(name: str):
  if name == 'pipeline':
    from lm_jax.inference import pipeline  # pylint: disable=g-import-not-at-top
    return pipeline
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
