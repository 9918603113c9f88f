"""GPT-1 and GPT-2: a causal decoder with a tied output layer (§1.10, §2.5).

Embeddings (word + learned position; no token types, no LayerNorm) -> the
causal stack of `Encoder` (post-LN GPT-1, pre-LN GPT-2 with its final
LayerNorm) -> logits h . W_word^T in f32, with no output bias. GPT-1 and
GPT-2 differ in their `TransformerConfig` only.

With `decode`, every layer keeps its keys and values in the 'cache'
collection: `init` with ids of the cache's length creates it, then
`hidden(..., cache_index=i)` writes the new tokens at slot i (see
`lm_jax/generation.py`).
"""
import flax.linen as nn

from lm_jax.models.embeddings import Embeddings
from lm_jax.models.encoder import Encoder
from lm_jax.models.heads import tied_logits
from lm_jax.models.model_config import TransformerConfig


class CausalLM(nn.Module):
  config: TransformerConfig
  deterministic: bool = True
  decode: bool = False

  def setup(self):
    self.embeddings = Embeddings(self.config, self.deterministic)
    self.decoder = Encoder(self.config, self.deterministic, self.decode)

  def hidden(self, ids_BxL, key_mask_BxK, positions_BxL=None,
             cache_index=None):
    """Final states [B, L, H]. `key_mask_BxK` marks real tokens (of the
    input, or of the cache's slots when decoding)."""
    x_BxLxE = self.embeddings(ids_BxL, None, positions_BxL)
    return self.decoder(x_BxLxE, key_mask_BxK, cache_index)

  def logits(self, h_BxLxH):
    """Next-token logits [B, L, V], f32, tied to the word table."""
    return tied_logits(h_BxLxH, self.embeddings.word_table())

  def __call__(self, ids_BxL, input_mask_BxL):
    return self.logits(self.hidden(ids_BxL, input_mask_BxL))
