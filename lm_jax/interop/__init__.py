"""Interoperability with the Hugging Face ecosystem: model folders
(config.json, safetensors or pytorch_model.bin, tokenizer files) converted
into lm_jax workdirs and back. `lm_jax/convert.py` is the entry point."""
