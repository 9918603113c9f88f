"""One masked-LM encoder for BERT, ALBERT, SpanBERT and DistilBERT (§2.1-2.4).

Embeddings -> encoder -> heads. The heads present follow the objective: the
MLM head always (tied to the word table), the pooler + 2-way sentence head
for NSP/SOP, the span-boundary head for SpanBERT. The family differences are
in `TransformerConfig`: E < H with a projection and shared layers (ALBERT),
no token-type table (DistilBERT). The loss calls the parts with `method=`.
"""
import flax.linen as nn
import jax.numpy as jnp

from lm_jax.models.embeddings import Embeddings
from lm_jax.models.encoder import Encoder
from lm_jax.models.heads import MlmHead, SentenceHead, SpanBoundaryHead
from lm_jax.models.model_config import TransformerConfig


class BertModel(nn.Module):
  config: TransformerConfig
  sentence_head: bool = False  # pooler + NSP/SOP classifier
  sbo_max_targets: int = 0  # > 0: a span-boundary head with this offset table
  sbo_position_size: int = 200
  deterministic: bool = True

  def setup(self):
    cfg = self.config
    self.embeddings = Embeddings(cfg, self.deterministic)
    self.encoder = Encoder(cfg, self.deterministic)
    self.mlm_head = MlmHead(cfg)
    if self.sentence_head:
      self.sentence_classifier = SentenceHead(cfg)
    if self.sbo_max_targets:
      self.span_boundary_head = SpanBoundaryHead(
          cfg, self.sbo_max_targets, self.sbo_position_size)

  def encode(self, ids_BxL, segment_ids_BxL, input_mask_BxL):
    """Final hidden states [B, L, H]."""
    return self.encoder(self.embeddings(ids_BxL, segment_ids_BxL),
                        input_mask_BxL)

  def mlm_logits(self, h_BxLxH, positions_BxN):
    """MLM logits [B, N, V] (f32) at the given positions."""
    h_BxNxH = jnp.take_along_axis(h_BxLxH, positions_BxN[..., None], axis=1)
    return self.mlm_head(h_BxNxH, self.embeddings.word_table())

  def sentence_logits(self, h_BxLxH):
    """NSP/SOP logits [B, 2] from the pooled [CLS] state."""
    return self.sentence_classifier(h_BxLxH)

  def sbo_logits(self, h_BxLxH, left_BxN, right_BxN, offset_BxN):
    """Span-boundary logits [B, N, V] (f32), one row per target token."""
    return self.span_boundary_head(h_BxLxH, left_BxN, right_BxN, offset_BxN,
                                   self.embeddings.word_table())

  def __call__(self, ids_BxL, segment_ids_BxL, input_mask_BxL, positions_BxN):
    """Every head once, on the same input: creates every parameter."""
    h_BxLxH = self.encode(ids_BxL, segment_ids_BxL, input_mask_BxL)
    out = {'mlm': self.mlm_logits(h_BxLxH, positions_BxN)}
    if self.sentence_head:
      out['sentence'] = self.sentence_logits(h_BxLxH)
    if self.sbo_max_targets:
      out['sbo'] = self.sbo_logits(h_BxLxH, positions_BxN, positions_BxN,
                                   positions_BxN)
    return out
