"""Pure Flax linen modules: embeddings, the post-LN encoder and the ELECTRA pair."""
