"""lm_jax/models/model_config.py: generator sizing (algorithms.md §1.9)."""
import pytest

from lm_jax.models.model_config import TransformerConfig, scaled_generator

SMALL = TransformerConfig(vocab_size=30522, hidden_size=256, num_layers=12,
                          num_heads=4, intermediate_size=1024, embedding_size=128)
BASE = TransformerConfig(vocab_size=30522, hidden_size=768, num_layers=12,
                         num_heads=12, intermediate_size=3072, embedding_size=768)


def test_paper_small_generator_is_a_quarter():
  gen = scaled_generator(SMALL, 0.25)
  assert (gen.hidden_size, gen.num_heads, gen.intermediate_size,
          gen.num_layers) == (64, 1, 256, 12)
  assert gen.embedding_size == 128  # shares the discriminator's embeddings


def test_base_generator_is_a_third():
  gen = scaled_generator(BASE, 1 / 3)
  assert (gen.hidden_size, gen.num_heads, gen.intermediate_size) == (256, 4, 1024)


def test_released_small_generator_is_full_size():
  gen = scaled_generator(SMALL, 1.0)
  assert (gen.hidden_size, gen.num_heads) == (256, 4)


def test_heads_must_divide_hidden():
  with pytest.raises(ValueError, match='num_heads'):
    TransformerConfig(vocab_size=10, hidden_size=30, num_layers=1, num_heads=4,
                      intermediate_size=8, embedding_size=8)
