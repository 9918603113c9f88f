"""Input pipelines: text sources, tokenizers, instance builders and maskers."""
