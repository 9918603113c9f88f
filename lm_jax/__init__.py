"""lm_jax: BERT-era language-model pretraining in JAX/Flax."""
